//! Long-running children (servers such as `rclone serve restic`) through the same
//! door as every other child: stdin /dev/null, their own process group, and an
//! environment that is not inherited (only the variables the caller names pass,
//! then the caller's own), so nothing unrelated of ours reaches them.
//!
//! `serve` starts one and reads its stdout and stderr line by line until the caller
//! recognises the line that says it is ready (its address), within a deadline and
//! the run's cancellation; both pipes are drained for the rest of its life. `stop`
//! sends SIGINT to its group and SIGKILL after a grace period (at once on a second
//! signal); a `Server` dropped without `stop` (an early return, a panic, a dropped
//! future) has its group killed with SIGKILL.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::child::{signal_group, spawn_error, Error, Limits, Stopped, PIPE_DRAIN};
use crate::secret::Secret;

/// How much of a server's output before it was ready is kept for an error.
const OUTPUT_KEEP: usize = 4096;

/// What to start as a server.
#[derive(Debug)]
pub struct ServerSpec<'a> {
    pub program: &'a Path,
    pub args: &'a [OsString],
    /// The only inherited variables it gets (when set here), e.g. `PATH`, `HOME`.
    pub inherit: &'a [&'a str],
    /// Variables for this child only, set after `inherit` (never logged).
    pub env: &'a [(String, Secret)],
}

/// Why a server did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] Error),
    #[error("`{}` exited ({status}) before it was ready; its output: {output}", program.display())]
    Exited {
        program: PathBuf,
        status: ExitStatus,
        /// The end of its output (stdout and stderr), unredacted.
        output: String,
    },
    #[error("`{}` was not ready when it was stopped ({}); its output: {output}", program.display(), match stopped { Stopped::Deadline => "deadline", Stopped::Cancelled => "cancelled" })]
    NotReady {
        program: PathBuf,
        stopped: Stopped,
        output: String,
    },
}

/// A running server. `stop` it; dropping it kills its process group.
#[derive(Debug)]
pub struct Server {
    child: tokio::process::Child,
    pid: Option<u32>,
    program: PathBuf,
    /// Its exit was collected: the process ID may belong to someone else now.
    reaped: bool,
}

/// Starts `spec` and feeds each line it prints (stdout or stderr, without the line
/// end) to `ready` until that returns `Some`, within `limits`.
///
/// # Errors
/// The program is missing or cannot be started, it exited before it was ready, or
/// the deadline or cancellation came first (it is stopped then).
pub async fn serve<T>(
    spec: ServerSpec<'_>,
    limits: &Limits,
    ready: &mut (dyn FnMut(&str) -> Option<T> + Send),
) -> Result<(Server, T), ServeError> {
    let mut cmd = tokio::process::Command::new(spec.program);
    cmd.args(spec.args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in spec.inherit {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    for (k, v) in spec.env {
        cmd.env(k, v.expose());
    }
    let program = spec.program.to_owned();
    let mut child = cmd.spawn().map_err(|e| spawn_error(&program, e))?;
    let (tx, mut lines) = mpsc::unbounded_channel();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward(err, tx));
    }
    let mut server = Server {
        pid: child.id(),
        child,
        program: program.clone(),
        reaped: false,
    };
    let mut output = String::new();
    let mut exited: Option<ExitStatus> = None;
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let mut drain_until = far;
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    if let Some(found) = ready(&line) {
                        return Ok((server, found));
                    }
                    keep_tail(&mut output, &line);
                }
                // Both pipes closed and every line read.
                None if exited.is_some() => break,
                None => drain_until = Instant::now(),
            },
            status = server.child.wait(), if exited.is_none() => {
                server.reaped = true;
                exited = Some(status.map_err(|e| Error::Io { program: program.clone(), source: e })?);
                // Its last words may still be in the pipes (a grandchild may hold them).
                drain_until = drain_until.min(Instant::now() + PIPE_DRAIN);
            }
            () = tokio::time::sleep_until(drain_until), if exited.is_some() => break,
            () = tokio::time::sleep_until(limits.deadline), if exited.is_none() => {
                server.stop(limits.grace, limits.hurry.as_ref()).await;
                return Err(ServeError::NotReady { program, stopped: Stopped::Deadline, output });
            }
            () = limits.cancel.cancelled(), if exited.is_none() => {
                server.stop(limits.grace, limits.hurry.as_ref()).await;
                return Err(ServeError::NotReady { program, stopped: Stopped::Cancelled, output });
            }
        }
    }
    Err(ServeError::Exited {
        program,
        // The loop breaks only after `exited` was set.
        status: exited.unwrap_or_default(),
        output,
    })
}

impl Server {
    /// Its process ID (it leads its own process group).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Stops it: SIGINT to its group, SIGKILL after `grace` or at once when `hurry`
    /// is cancelled, and collects its exit (bounded). Returns how it ended, if known.
    pub async fn stop(
        &mut self,
        grace: Duration,
        hurry: Option<&CancellationToken>,
    ) -> Option<ExitStatus> {
        if self.reaped {
            return None;
        }
        let hurry = hurry.cloned().unwrap_or_default();
        signal_group(self.pid, Signal::SIGINT);
        let status = tokio::select! {
            s = self.child.wait() => s.ok(),
            () = tokio::time::sleep(grace) => None,
            () = hurry.cancelled() => None,
        };
        let status = match status {
            Some(s) => Some(s),
            None => {
                tracing::warn!(
                    "`{}` did not stop within {} of SIGINT; killing it",
                    self.program.display(),
                    humantime::format_duration(grace)
                );
                signal_group(self.pid, Signal::SIGKILL);
                let _ = self.child.start_kill();
                tokio::time::timeout(PIPE_DRAIN, self.child.wait())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
        };
        self.reaped = status.is_some();
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Not reaped: its process ID still names it (a zombie at worst).
        if !self.reaped {
            signal_group(self.pid, Signal::SIGKILL);
        }
    }
}

/// Sends each line of `pipe` to `tx` (lossy UTF-8, line end removed) and keeps
/// reading after the receiver is gone, so that the child never blocks on a full pipe.
async fn forward(pipe: impl AsyncRead + Unpin, tx: mpsc::UnboundedSender<String>) {
    let mut r = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if !tx.is_closed() {
                    let line = String::from_utf8_lossy(&buf);
                    let _ = tx.send(line.trim_end_matches(['\n', '\r']).to_owned());
                }
            }
        }
    }
}

/// Appends `line` to `out`, keeping only the last `OUTPUT_KEEP` bytes or so.
fn keep_tail(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
    if out.len() > OUTPUT_KEEP {
        let mut cut = out.len() - OUTPUT_KEEP;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out.drain(..cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::process::tests::{limits_with_grace, sh};

    fn limits(secs: u64) -> Limits {
        limits_with_grace(secs, 2)
    }

    fn spec<'a>(args: &'a [OsString], env: &'a [(String, Secret)]) -> ServerSpec<'a> {
        ServerSpec {
            program: Path::new("/bin/sh"),
            args,
            inherit: &["PATH"],
            env,
        }
    }

    /// Whether `pid` is gone or a zombie (killed, not yet collected).
    fn dead(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    fn address(line: &str) -> Option<String> {
        line.strip_prefix("serving on ").map(str::to_owned)
    }

    #[tokio::test]
    async fn serve_reads_the_address_and_stop_ends_it() {
        // Noise first, the address on stderr, then a server that outlives the pipes.
        let args = sh("echo starting; echo 'serving on 127.0.0.1:9' >&2; exec sleep 60");
        let (mut server, addr) = serve(spec(&args, &[]), &limits(30), &mut address)
            .await
            .expect("serve");
        assert_eq!(addr, "127.0.0.1:9");
        let pid = server.pid().expect("pid");
        assert!(!dead(pid));
        let status = server.stop(Duration::from_secs(5), None).await;
        assert!(status.is_some(), "not collected");
        assert!(dead(pid), "still running");
    }

    #[tokio::test]
    async fn serve_gives_only_inherit_and_env_and_stdin_is_dev_null() {
        std::env::set_var("RVTEST_SERVER_CANARY", "leaked");
        let args = sh(
            "echo \"serving on ${RVTEST_SERVER_CANARY:-unset} $RVTEST_MINE $(readlink /proc/$$/fd/0) ${PATH:+path}\"; exec sleep 60",
        );
        let env = [("RVTEST_MINE".to_owned(), Secret::new("given"))];
        let (mut server, got) = serve(spec(&args, &env), &limits(30), &mut address)
            .await
            .expect("serve");
        server.stop(Duration::from_secs(5), None).await;
        assert_eq!(got, "unset given /dev/null path");
    }

    #[tokio::test]
    async fn serve_child_exiting_first_is_an_error_with_its_output() {
        let args = sh("echo 'no such remote' >&2; exit 3");
        let r = serve(spec(&args, &[]), &limits(30), &mut address).await;
        match r {
            Err(ServeError::Exited { status, output, .. }) => {
                assert_eq!(status.code(), Some(3));
                assert_eq!(output, "no such remote\n");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn serve_cancelled_before_ready_stops_the_child() {
        let args = sh("echo $$ > \"$0\"; echo waiting; exec sleep 60");
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let mut args = args;
        args.push(pidfile.clone().into());
        let l = limits(60);
        let cancel = l.cancel.clone();
        let r = serve(spec(&args, &[]), &l, &mut |line| {
            if line == "waiting" {
                cancel.cancel();
            }
            None::<()>
        })
        .await;
        assert!(
            matches!(
                r,
                Err(ServeError::NotReady {
                    stopped: Stopped::Cancelled,
                    ..
                })
            ),
            "{r:?}"
        );
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        assert!(dead(pid), "the child outlived the cancellation");
    }

    #[tokio::test]
    async fn server_dropped_without_stop_is_killed() {
        // It ignores SIGINT: only the drop's SIGKILL ends it.
        let args = sh("trap '' INT; echo 'serving on x'; exec sleep 60");
        let (server, _) = serve(spec(&args, &[]), &limits(30), &mut address)
            .await
            .expect("serve");
        let pid = server.pid().expect("pid");
        drop(server);
        let start = std::time::Instant::now();
        while !dead(pid) {
            assert!(start.elapsed() < Duration::from_secs(30), "not killed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn keep_tail_keeps_the_end() {
        let mut out = String::new();
        for i in 0..1000 {
            keep_tail(&mut out, &format!("line {i}"));
        }
        assert!(out.len() <= OUTPUT_KEEP + 16, "{}", out.len());
        assert!(out.ends_with("line 999\n"));
    }
}
