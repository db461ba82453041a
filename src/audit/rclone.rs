//! `rclone:` repositories for the audit: `rclone serve restic` started through the
//! process door (`process::serve`), never by rustic_backend, then read as a REST
//! repository. It listens on 127.0.0.1 on a port it picks and asks a random per-run
//! user and password, given in `RCLONE_USER`/`RCLONE_PASS` (never argv); rclone 1.60
//! cannot listen on a unix socket. Its environment is `PATH`, `HOME` and a few
//! locale variables plus the env file's (`RCLONE_CONFIG`, remote credentials), and
//! it honours restic's `rclone.program` and `rclone.args` options (`--stdio` is
//! dropped from them: the audit talks HTTP).
//!
//! Owns only that child; the job (`audit::job`) stops it on every exit path.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};
use tokio::time::Instant;

use super::Error;
use crate::process::{self, ServeError, Server, Stopped};
use crate::secret::{Redactor, Secret};

/// restic's default `rclone.program` and `rclone.args`.
const DEFAULT_PROGRAM: &str = "rclone";
const DEFAULT_ARGS: &str = "serve restic --stdio --b2-hard-delete";
/// What rclone prints once it listens (1.60: `… on http://127.0.0.1:PORT/`; later
/// versions put the URL in brackets).
const READY: &str = "Serving restic REST API on ";
/// The only inherited variables rclone gets; the rest comes from the env file.
const INHERIT: [&str; 11] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
];
/// Env file variables that would change how rclone serves (the audit sets these).
const OURS: [&str; 4] = ["RCLONE_USER", "RCLONE_PASS", "RCLONE_ADDR", "RCLONE_STDIO"];
/// How long rclone may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The rclone remote of an `rclone:` repository URL.
pub(crate) fn remote(url: &str) -> Option<&str> {
    url.strip_prefix("rclone:")
}

/// The program and arguments that serve `remote` over HTTP on loopback, from
/// restic's `rclone.program` and `rclone.args` options (split like a shell would).
///
/// # Errors
/// An option that does not split (an unclosed quote), or an empty program.
pub(crate) fn command(
    options: &[(String, String)],
    remote: &str,
) -> Result<(PathBuf, Vec<OsString>), String> {
    let get = |key: &str| {
        options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let split = |key: &str, default: &str| {
        shell_words::split(get(key).unwrap_or(default))
            .map_err(|e| format!("option `{key}` cannot be split into words: {e}"))
    };
    let mut program = split("rclone.program", DEFAULT_PROGRAM)?.into_iter();
    let Some(first) = program.next() else {
        return Err("option `rclone.program` is empty".to_owned());
    };
    let mut args: Vec<OsString> = program.map(OsString::from).collect();
    args.extend(
        split("rclone.args", DEFAULT_ARGS)?
            .into_iter()
            .filter(|a| a != "--stdio" && a != "--stdio=true")
            .map(OsString::from),
    );
    // Last, so that it wins over an `--addr` in `rclone.args`.
    args.extend(["--addr".into(), "127.0.0.1:0".into(), remote.into()]);
    Ok((PathBuf::from(first), args))
}

/// The address in rclone's line saying it listens, when that is on loopback.
pub(crate) fn address(line: &str) -> Option<Result<String, String>> {
    let (_, rest) = line.split_once(READY)?;
    let url = rest.trim().trim_matches(['[', ']']).trim_end_matches('/');
    Some(match url.strip_prefix("http://127.0.0.1:") {
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(format!("127.0.0.1:{port}"))
        }
        _ => Err(format!(
            "rclone serves on {url}, not on a port of 127.0.0.1; remove `--addr` from `rclone.args`"
        )),
    })
}

/// A running `rclone serve restic` and how to reach it.
#[derive(Debug)]
pub(crate) struct Served {
    server: Server,
    /// `http://USER:PASS@127.0.0.1:PORT/`, for rustic_backend's REST backend (the
    /// audit's redactor scrubs its password).
    pub endpoint: Secret,
}

impl Served {
    /// Stops rclone (SIGINT, then SIGKILL after `grace` or at once on `hurry`).
    pub async fn stop(mut self, limits: &process::Limits) {
        self.server.stop(limits.grace, limits.hurry.as_ref()).await;
    }
}

/// Starts rclone for `remote` with the env file's variables (`env`; restic's own
/// are not passed on) and restic's `-o` options (`options`), and waits until it
/// listens, within `limits` and at most `START_TIMEOUT`.
///
/// # Errors
/// Bad `rclone.*` options (`Options`), rclone missing, exiting or not listening in
/// time (`Rclone`), or the run cancelled (`Cancelled`).
pub(crate) async fn start(
    remote: &str,
    options: &[(String, String)],
    env: &[(String, Secret)],
    limits: &process::Limits,
    shown: &str,
) -> Result<Served, Error> {
    let (program, args) = command(options, remote).map_err(Error::Options)?;
    let user = Alphanumeric.sample_string(&mut rand::rng(), 16);
    let password = Secret::new(Alphanumeric.sample_string(&mut rand::rng(), 32));
    let mut vars: Vec<(String, Secret)> = env
        .iter()
        .filter(|(k, _)| !k.starts_with("RESTIC_") && !OURS.contains(&k.as_str()))
        .cloned()
        .collect();
    vars.push(("RCLONE_USER".to_owned(), Secret::new(&user)));
    vars.push(("RCLONE_PASS".to_owned(), password.clone()));
    let mut redactor = Redactor::default();
    for (_, v) in &vars {
        redactor.add(v);
    }
    let starting = process::Limits {
        deadline: limits.deadline.min(Instant::now() + START_TIMEOUT),
        ..limits.clone()
    };
    let spec = process::ServerSpec {
        program: &program,
        args: &args,
        inherit: &INHERIT,
        env: &vars,
    };
    let served = process::serve(spec, &starting, &mut |line| {
        tracing::debug!("rclone: {}", redactor.redact(line));
        address(line)
    })
    .await;
    let failed = |message: String| Error::Rclone {
        repository: shown.to_owned(),
        message: redactor.redact(&message),
    };
    let (server, addr) = match served {
        Ok((server, Ok(addr))) => (server, addr),
        Ok((mut server, Err(message))) => {
            server.stop(limits.grace, limits.hurry.as_ref()).await;
            return Err(failed(message));
        }
        Err(ServeError::NotReady {
            stopped: Stopped::Cancelled,
            ..
        }) if limits.cancel.is_cancelled() => return Err(Error::Cancelled),
        Err(ServeError::NotReady {
            stopped: Stopped::Deadline,
            ..
        }) if Instant::now() >= limits.deadline => return Err(Error::Cancelled),
        Err(ServeError::Start(process::Error::NotFound { program, .. })) => {
            return Err(failed(format!(
                "`{}` not found; install rclone or point `rclone.program` at it in the repository's `options`",
                program.display()
            )))
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    tracing::debug!(pid = server.pid(), "rclone serves {shown} on {addr}");
    let endpoint = Secret::new(format!("http://{user}:{}@{addr}/", password.expose()));
    Ok(Served { server, endpoint })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn words(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[rstest]
    #[case::defaults_like_restic(&[], "rclone", "serve restic --b2-hard-delete --addr 127.0.0.1:0 remote:bucket/repo")]
    #[case::program_and_args(
        &[("rclone.program", "/opt/rclone --config '/etc/my rclone.conf'"), ("rclone.args", "serve restic --stdio --fast-list --addr 0.0.0.0:80")],
        "/opt/rclone",
        "--config /etc/my rclone.conf serve restic --fast-list --addr 0.0.0.0:80 --addr 127.0.0.1:0 remote:bucket/repo"
    )]
    fn command_follows_restics_options_over_http_on_loopback(
        #[case] given: &[(&str, &str)],
        #[case] program: &str,
        #[case] args: &str,
    ) {
        let (p, a) = command(&opts(given), "remote:bucket/repo").expect("command");
        assert_eq!(p, PathBuf::from(program));
        assert_eq!(words(&a).join(" "), args);
    }

    #[rstest]
    #[case(&[("rclone.program", "")], "`rclone.program` is empty")]
    #[case(&[("rclone.args", "serve 'restic")], "`rclone.args` cannot be split")]
    fn command_bad_options_are_named(#[case] given: &[(&str, &str)], #[case] want: &str) {
        let e = command(&opts(given), "r:").unwrap_err();
        assert!(e.contains(want), "{e}");
    }

    #[rstest]
    #[case(
        "2026/12/06 15:21:43 NOTICE: Local file system at /r: Serving restic REST API on http://127.0.0.1:38837/",
        Some(Ok("127.0.0.1:38837"))
    )]
    #[case(
        "NOTICE: b2 root 'x': Serving restic REST API on [http://127.0.0.1:4000/]",
        Some(Ok("127.0.0.1:4000"))
    )]
    #[case("NOTICE: Serving restic REST API on http://[::]:80/", Some(Err(())))]
    #[case(
        "NOTICE: Config file \"/root/.config/rclone/rclone.conf\" not found - using defaults",
        None
    )]
    fn address_reads_rclones_line_and_insists_on_loopback(
        #[case] line: &str,
        #[case] want: Option<Result<&str, ()>>,
    ) {
        let got = address(line).map(|r| r.map_err(|_| ()));
        assert_eq!(got, want.map(|r| r.map(str::to_owned)));
    }
}
