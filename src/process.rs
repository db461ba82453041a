//! THE ONLY code that starts child processes (restic and `zfs`): one door with the
//! same rules for every child.
//!
//! Every child gets stdin from /dev/null (restic would otherwise read a password
//! from it), its own process group, a sealed environment (inherited variables with
//! a reserved prefix such as `RESTIC_` are removed before the caller's are set),
//! and a deadline. Its stdout is streamed line by line to the caller and always
//! drained while it runs (a closed pipe kills restic with SIGPIPE and leaves a
//! lock); its stderr is kept up to a cap. To stop a child (deadline, cancellation)
//! its group gets SIGINT, the way that lets restic remove its lock, then SIGKILL
//! after a grace period; a second cancellation cuts the grace short. After a stop
//! or an exit every wait is bounded: a grandchild that keeps a pipe open (ssh for
//! SFTP, rclone, a password command) cannot keep a run alive past deadline + grace.
//! This module knows nothing about restic; `restic/` and `zfs` build on it.
//! Long-running children (rclone serving an `rclone:` repository to the audit)
//! start through `server`, under the same rules and with a cleared environment;
//! children spoken to over their stdin and stdout (ssh for an SFTP repository)
//! through `piped`.

use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::time::Instant;

use crate::secret::Secret;

mod child;
mod piped;
mod server;
use child::{signal_group, spawn_error, PIPE_DRAIN};
pub use child::{Error, Limits, Stopped};
pub use piped::{spawn_piped, Piped, PipedSpec, PipedStdin, PipedStdout};
pub use server::{serve, ServeError, Server, ServerSpec};

/// How much of a child's stderr is kept (the rest is counted).
const STDERR_KEEP: usize = 256 * 1024;

/// Where the child's stdout goes.
#[derive(Debug)]
pub enum Stdout {
    /// A pipe, read line by line.
    Lines,
    /// A file (e.g. `restic dump` into the restore directory).
    File(std::fs::File),
}

/// What to start.
#[derive(Debug)]
pub struct Spec<'a> {
    pub program: &'a Path,
    pub args: &'a [OsString],
    /// Inherited variables whose names start with this are removed (`RESTIC_`).
    pub sealed_prefix: Option<&'a str>,
    /// Variables for this child only (never logged).
    pub env: &'a [(String, Secret)],
    pub stdout: Stdout,
}

/// How a child ended.
#[derive(Debug)]
pub struct Exit {
    pub status: ExitStatus,
    /// Its stderr, capped at `STDERR_KEEP` bytes.
    pub stderr: String,
    /// Set when this module stopped it.
    pub stopped: Option<Stopped>,
    /// Its process ID (restic writes it into its lock).
    pub pid: Option<u32>,
}

/// Starts a child, feeds each stdout line to `on_line`, and waits for it within
/// `limits`.
///
/// # Errors
/// The program is missing or cannot be started, or a pipe fails.
pub async fn run(
    spec: Spec<'_>,
    limits: &Limits,
    on_line: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Exit, Error> {
    let mut cmd = tokio::process::Command::new(spec.program);
    cmd.args(spec.args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let to_file = matches!(spec.stdout, Stdout::File(_));
    match spec.stdout {
        Stdout::File(f) => cmd.stdout(Stdio::from(f)),
        Stdout::Lines => cmd.stdout(Stdio::piped()),
    };
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
    let io = |source| Error::Io {
        program: program.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(|e| spawn_error(&program, e))?;
    let pid = child.id();
    let Some(stderr) = child.stderr.take() else {
        return Err(io(std::io::Error::other("stderr pipe was not set up")));
    };
    let mut stderr_task = tokio::spawn(read_capped(stderr));
    let mut stdout = child.stdout.take().map(BufReader::new);
    if stdout.is_none() && !to_file {
        return Err(io(std::io::Error::other("stdout pipe was not set up")));
    }
    let mut line = Vec::new();
    let mut stdout_open = stdout.is_some();
    let mut stopped: Option<Stopped> = None;
    let mut kill_at: Option<Instant> = None;
    let mut status: Option<ExitStatus> = None;
    let mut drain_until: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let hurry = limits.hurry.clone().unwrap_or_default();
    loop {
        if status.is_some() && !stdout_open {
            break;
        }
        tokio::select! {
            r = read_line(&mut stdout, &mut line), if stdout_open => {
                match r {
                    Ok(0) => stdout_open = false,
                    Ok(_) => { on_line(&line); line.clear(); }
                    Err(e) => return Err(io(e)),
                }
            }
            s = child.wait(), if status.is_none() => {
                status = Some(s.map_err(io)?);
                drain_until = Some(Instant::now() + PIPE_DRAIN);
            }
            () = tokio::time::sleep_until(drain_until.unwrap_or(far)), if drain_until.is_some() => {
                tracing::warn!("`{}` exited but a process it started still holds its output open; not waiting for it", program.display());
                break;
            }
            () = tokio::time::sleep_until(limits.deadline), if stopped.is_none() && status.is_none() => {
                stopped = Some(Stopped::Deadline);
                signal_group(pid, nix::sys::signal::Signal::SIGINT);
                kill_at = Some(Instant::now() + limits.grace);
            }
            () = limits.cancel.cancelled(), if stopped.is_none() && status.is_none() => {
                stopped = Some(Stopped::Cancelled);
                signal_group(pid, nix::sys::signal::Signal::SIGINT);
                kill_at = Some(Instant::now() + limits.grace);
            }
            () = hurry.cancelled(), if kill_at.is_some() && status.is_none() => {
                // Kill here: a sleep until "now" is not ready on its first poll, and
                // this branch would win every round.
                tracing::warn!("stopping `{}` now (second signal)", program.display());
                signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.start_kill();
                kill_at = None;
            }
            () = tokio::time::sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() && status.is_none() => {
                tracing::warn!("`{}` did not stop within {} of SIGINT; killing it", program.display(), humantime::format_duration(limits.grace));
                signal_group(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.start_kill();
                kill_at = None;
            }
        }
    }
    if !line.is_empty() {
        on_line(&line);
    }
    // The group may still hold stderr open; the child itself is gone.
    let status = match status {
        Some(s) => s,
        None => child.wait().await.map_err(io)?,
    };
    let stderr = match tokio::time::timeout(PIPE_DRAIN, &mut stderr_task).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => String::new(),
        Err(_) => {
            stderr_task.abort();
            String::from("[stderr still held open by a process the child started; not read]")
        }
    };
    Ok(Exit {
        status,
        stderr,
        stopped,
        pid,
    })
}

/// Reads one line from stdout (cancel safe: partial data stays in `line`).
async fn read_line(
    stdout: &mut Option<BufReader<tokio::process::ChildStdout>>,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    match stdout {
        Some(s) => s.read_until(b'\n', line).await,
        None => Ok(0),
    }
}

async fn read_capped(mut r: tokio::process::ChildStderr) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut dropped = 0usize;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = STDERR_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped += n.saturating_sub(room);
            }
        }
    }
    let mut s = String::from_utf8_lossy(&kept).into_owned();
    if dropped > 0 {
        s.push_str(&format!("\n[{dropped} more bytes of stderr not kept]\n"));
    }
    s
}

/// Whether a process with this ID exists (restic's rule for stale locks).
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn limits(secs: u64) -> Limits {
        limits_with_grace(secs, 1)
    }

    /// Limits of `secs` with `grace` seconds between SIGINT and SIGKILL.
    pub(super) fn limits_with_grace(secs: u64, grace: u64) -> Limits {
        Limits {
            deadline: Instant::now() + Duration::from_secs(secs),
            cancel: CancellationToken::new(),
            grace: Duration::from_secs(grace),
            hurry: None,
        }
    }

    /// `/bin/sh` arguments running `script`.
    pub(super) fn sh(script: &str) -> Vec<OsString> {
        vec!["-c".into(), script.into()]
    }

    /// `/bin/sh -c` with `args`, stdout as lines, nothing sealed or set.
    fn sh_spec(args: &[OsString]) -> Spec<'_> {
        Spec {
            program: Path::new("/bin/sh"),
            args,
            sealed_prefix: None,
            env: &[],
            stdout: Stdout::Lines,
        }
    }

    #[tokio::test]
    async fn run_streams_lines_and_keeps_stderr() {
        let args = sh("echo one; echo two; echo oops >&2; exit 3");
        let mut lines = Vec::new();
        let exit = run(sh_spec(&args), &limits(30), &mut |l| {
            lines.push(String::from_utf8_lossy(l).into_owned())
        })
        .await
        .expect("run");
        assert_eq!(lines, ["one\n", "two\n"]);
        assert_eq!(exit.status.code(), Some(3));
        assert_eq!(exit.stderr, "oops\n");
        assert_eq!(exit.stopped, None);
    }

    #[tokio::test]
    async fn run_seals_the_environment_and_sets_the_callers_variables() {
        std::env::set_var("RVTEST_LEAK", "inherited");
        let args = sh("echo \"${RVTEST_LEAK:-unset} $RVTEST_MINE\"");
        let mut out = String::new();
        run(
            Spec {
                program: Path::new("/bin/sh"),
                args: &args,
                sealed_prefix: Some("RVTEST_"),
                env: &[("RVTEST_MINE".into(), Secret::new("given"))],
                stdout: Stdout::Lines,
            },
            &limits(30),
            &mut |l| out.push_str(&String::from_utf8_lossy(l)),
        )
        .await
        .expect("run");
        assert_eq!(out.trim(), "unset given");
    }

    #[tokio::test]
    async fn run_stops_a_child_at_the_deadline_even_when_a_grandchild_holds_the_pipes() {
        // The grandchild ignores SIGINT and leaves the group, like ssh started by
        // restic: it keeps stdout and stderr open after the child is gone.
        let args = sh("setsid sh -c 'trap \"\" INT; sleep 15' & trap '' INT; sleep 60");
        let started = std::time::Instant::now();
        let exit = run(sh_spec(&args), &limits(1), &mut |_| ())
            .await
            .expect("run");
        assert_eq!(exit.stopped, Some(Stopped::Deadline));
        // deadline 1 s + grace 1 s + pipe drain 5 s, with room for a slow machine.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn run_sends_sigint_on_cancel_and_reports_it() {
        // `env --default-signal=INT`: a shell cannot trap a signal it was started
        // with ignored, and a test binary run in the background of a non-interactive
        // shell (`nohup … &`) has SIGINT ignored. (restic-verify itself installs its
        // SIGINT handler first thing, so its children start with the default.)
        let args: Vec<OsString> = [
            "--default-signal=INT",
            "/bin/sh",
            "-c",
            "trap 'echo got-int; exit 130' INT; echo ready; while :; do sleep 0.1; done",
        ]
        .map(OsString::from)
        .into();
        let spec = Spec {
            program: Path::new("/usr/bin/env"),
            ..sh_spec(&args)
        };
        let l = limits(60);
        let cancel = l.cancel.clone();
        let mut out = Vec::new();
        let exit = run(spec, &l, &mut |line| {
            let line = String::from_utf8_lossy(line).trim().to_owned();
            // Cancel once the trap is set (a fixed delay raced the shell's start-up).
            if line == "ready" {
                cancel.cancel();
            }
            out.push(line);
        })
        .await
        .expect("run");
        assert_eq!(exit.stopped, Some(Stopped::Cancelled));
        assert_eq!(out, ["ready", "got-int"]);
        assert_eq!(exit.status.code(), Some(130));
    }

    #[tokio::test]
    async fn run_second_signal_kills_at_once_instead_of_waiting_out_the_grace() {
        // The child ignores SIGINT, as a restic stuck on a dead backend does.
        let args = sh("trap '' INT; sleep 60");
        let cancel = CancellationToken::new();
        let hurry = CancellationToken::new();
        let l = Limits {
            deadline: Instant::now() + Duration::from_secs(120),
            cancel: cancel.clone(),
            grace: Duration::from_secs(60),
            hurry: Some(hurry.clone()),
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cancel.cancel();
            tokio::time::sleep(Duration::from_millis(300)).await;
            hurry.cancel();
        });
        let started = std::time::Instant::now();
        let exit = run(sh_spec(&args), &l, &mut |_| ()).await.expect("run");
        assert_eq!(exit.stopped, Some(Stopped::Cancelled));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited {:?} instead of killing at the second signal",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn run_missing_program_is_not_found() {
        let r = run(
            Spec {
                program: Path::new("/nonexistent/restic"),
                args: &[],
                sealed_prefix: None,
                env: &[],
                stdout: Stdout::Lines,
            },
            &limits(5),
            &mut |_| (),
        )
        .await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    }
}
