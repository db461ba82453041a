//! `sftp:` repositories read in process, the way restic reaches them: restic's URL
//! forms (`sftp:user@host:/path`, `sftp:host:path`, `sftp://user@host:port//path`,
//! an ssh config alias as the host) become restic's own command, `ssh HOST [-p
//! PORT] [-l USER] [sftp.args…] -s sftp`, or the whole `sftp.command`; so ssh reads
//! the user's configuration (aliases, keys, ports, ProxyJump) exactly as for restic.
//! ssh is started through the process door (`process::spawn_piped`: own process
//! group, `RESTIC_*` sealed, the env file's variables added, killed when the
//! backend is dropped) and an SFTP client (`russh-sftp`) speaks over its pipes.
//!
//! `SftpBackend` is a read-only rustic_core backend: listing with sizes, whole and
//! partial reads (several read requests in flight per file). It owns a small tokio
//! runtime of its own, so its blocking methods can be called from any thread that
//! is not a runtime worker (the audit's walkers and loaders, the pack reader).
//!
//! Errors name the repository (its URL without credentials) and are sorted like
//! restic's: ssh cannot connect or the connection drops → `Network`; the server
//! refuses the login (ssh's `Permission denied`) → `Auth`; a missing directory, an
//! unknown option, a missing program, a host key ssh rejects → `Config`; a file of
//! the repository that cannot be read → `File` (damage for the caller to judge).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use rustic_core::{
    BytesList, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend,
};

mod command;

use command::last_lines;
pub use command::{classify, command, parse, Kind, Location};

use crate::process::{self, Piped, PipedSpec};
use crate::secret::{Redactor, Secret};

/// How long one SFTP request (the session's start included) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Read requests in flight per file.
const READS_IN_FLIGHT: usize = 16;
/// Directory listings in flight while listing the 256 `data/` subdirectories.
const LISTS_IN_FLIGHT: usize = 8;
/// Bytes per read request when the server does not say its limit (the SFTP
/// draft's minimum every server accepts), and the most asked of any server (the
/// client accepts packets of 256 KiB).
const READ_LEN_DEFAULT: u32 = 32 * 1024;
const READ_LEN_MAX: u32 = 255 * 1024;

/// Why the SFTP backend could not do something. Messages name the repository
/// without credentials and hold no secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("cannot reach sftp repository {repository}: {message}")]
    Network { repository: String, message: String },
    #[error("the sftp server of repository {repository} refused the login: {message}; ssh must log in without a prompt with the key or agent of the user restic-verify runs as (its ~/.ssh/config, or `-i KEY` in the repository's `sftp.args` / `sftp.command` option)")]
    Auth { repository: String, message: String },
    #[error("sftp repository {repository}: {message}")]
    Config { repository: String, message: String },
    #[error("sftp repository {repository}: {message}")]
    File { repository: String, message: String },
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Network { .. } => Kind::Network,
            Error::Auth { .. } => Kind::Auth,
            Error::Config { .. } => Kind::Config,
            Error::File { .. } => Kind::File,
        }
    }

    /// What went wrong, without the repository and the advice around it.
    pub fn message(&self) -> &str {
        match self {
            Error::Network { message, .. }
            | Error::Auth { message, .. }
            | Error::Config { message, .. }
            | Error::File { message, .. } => message,
        }
    }

    fn new(kind: Kind, repository: &str, message: String) -> Error {
        let repository = repository.to_owned();
        match kind {
            Kind::Network => Error::Network {
                repository,
                message,
            },
            Kind::Auth => Error::Auth {
                repository,
                message,
            },
            Kind::Config => Error::Config {
                repository,
                message,
            },
            Kind::File => Error::File {
                repository,
                message,
            },
        }
    }
}

/// A read-only rustic_core backend over an SFTP session to the repository.
pub struct SftpBackend {
    runtime: Option<tokio::runtime::Runtime>,
    session: Option<Arc<RawSftpSession>>,
    child: Mutex<Option<Piped>>,
    root: String,
    shown: String,
    redactor: Redactor,
    read_len: u32,
}

/// What opening an SFTP repository needs besides its URL.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// restic's `-o` options of the repository.
    pub options: &'a [(String, String)],
    /// The env file's variables (restic's own `RESTIC_*` are not passed to ssh).
    pub env: &'a [(String, Secret)],
    /// The URL as it may be shown (no credentials).
    pub shown: &'a str,
}

/// Starts ssh for `url` as restic would and opens the SFTP session; the
/// repository's directory must exist. Blocking; not on a runtime worker thread.
///
/// # Errors
/// A bad URL or option, ssh missing (`Config`); ssh could not connect (`Network`),
/// was refused (`Auth`); the directory is missing (`Config`).
pub fn open(url: &str, access: Access<'_>, redactor: &Redactor) -> Result<SftpBackend, Error> {
    let shown = access.shown;
    let config = |m: String| Error::new(Kind::Config, shown, redactor.redact(&m));
    let loc = parse(url).map_err(|m| config(format!("{m} (in `{shown}`)")))?;
    let (program, args) = command(&loc, access.options).map_err(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sftp")
        .enable_all()
        .build()
        .map_err(|e| config(format!("cannot start the sftp client's runtime: {e}")))?;
    let env: Vec<(String, Secret)> = access
        .env
        .iter()
        .filter(|(k, _)| !k.starts_with("RESTIC_"))
        .cloned()
        .collect();
    tracing::debug!("opening {shown} through `{}`", program.display());
    let spawned = runtime.block_on(async {
        process::spawn_piped(PipedSpec {
            program: &program,
            args: &args,
            sealed_prefix: Some("RESTIC_"),
            env: &env,
        })
    });
    let mut child = match spawned {
        Ok(c) => c,
        Err(process::Error::NotFound { .. }) => {
            return Err(config(format!(
                "`{}` not found: install openssh-client or name the program in the repository's `sftp.command` option",
                program.display()
            )))
        }
        Err(e) => return Err(config(e.to_string())),
    };
    let Some((stdin, stdout)) = child.take_io() else {
        return Err(config("ssh's pipes were not set up".to_owned()));
    };
    let (session, read_len) = match runtime.block_on(start_session(stdin, stdout, &loc.path)) {
        Ok(s) => s,
        Err(Started::Missing(m)) => return Err(config(m)),
        Err(Started::Refused(e)) => {
            let exited = runtime
                .block_on(child.exited(Duration::from_secs(5)))
                .map(|s| s.code().unwrap_or(-1));
            let said = child.stderr_tail();
            let (kind, why) = classify(&said, exited);
            let mut message = format!("{why} ({e})");
            let lines = last_lines(&said, 4);
            if !lines.is_empty() {
                message.push_str(&format!("; ssh said: {lines}"));
            }
            message.push_str(&format!("; command: `{}`", program.display()));
            return Err(Error::new(kind, shown, redactor.redact(&message)));
        }
    };
    Ok(SftpBackend {
        runtime: Some(runtime),
        session: Some(Arc::new(session)),
        child: Mutex::new(Some(child)),
        root: loc.path,
        shown: shown.to_owned(),
        redactor: redactor.clone(),
        read_len,
    })
}

/// Every pack file of the repository with its size (full ID in hex, bytes),
/// listed over a session of its own. Blocking; not on a runtime worker thread.
///
/// # Errors
/// As `open`, or the listing failed.
pub fn pack_sizes(
    url: &str,
    access: Access<'_>,
    redactor: &Redactor,
) -> Result<Vec<(String, u64)>, Error> {
    let backend = open(url, access, redactor)?;
    Ok(backend
        .listed(FileType::Pack)?
        .into_iter()
        .map(|(id, size)| (id.to_hex().as_str().to_owned(), u64::from(size)))
        .collect())
}

/// Why the session did not start.
enum Started {
    /// ssh or the server ended it (look at ssh's stderr).
    Refused(SftpError),
    /// The repository's directory is not there or not readable.
    Missing(String),
}

async fn start_session(
    stdin: process::PipedStdin,
    stdout: process::PipedStdout,
    root: &str,
) -> Result<(RawSftpSession, u32), Started> {
    let cfg = russh_sftp::client::Config {
        request_timeout_secs: REQUEST_TIMEOUT.as_secs(),
        ..russh_sftp::client::Config::default()
    };
    let mut session = RawSftpSession::new_with_config(tokio::io::join(stdout, stdin), cfg);
    let version = session.init().await.map_err(Started::Refused)?;
    let mut read_len = READ_LEN_DEFAULT;
    if version
        .extensions
        .get("limits@openssh.com")
        .is_some_and(|v| v == "1")
    {
        let limits = session.limits().await.map_err(Started::Refused)?;
        if limits.max_read_len > 0 {
            read_len = u32::try_from(limits.max_read_len)
                .unwrap_or(u32::MAX)
                .min(READ_LEN_MAX);
        }
        session.set_limits(limits.into());
    }
    match session.stat(root).await {
        Ok(a) if a.attrs.is_dir() => Ok((session, read_len)),
        Ok(_) => Err(Started::Missing(format!("`{root}` on the server is not a directory"))),
        Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => Err(Started::Missing(format!(
            "the directory `{root}` does not exist on the server: check the path (relative paths start at the login's home directory) or create the repository with `restic init`"
        ))),
        Err(SftpError::Status(s)) => Err(Started::Missing(format!("the directory `{root}` cannot be read: {}", s.error_message))),
        Err(e) => Err(Started::Refused(e)),
    }
}
/// Why a read did not complete.
enum Fail {
    Sftp(SftpError),
    /// The file ended before the bytes asked for.
    Short {
        want: u64,
        got: u64,
    },
}

impl From<SftpError> for Fail {
    fn from(e: SftpError) -> Fail {
        Fail::Sftp(e)
    }
}

/// The entries of directory `path` (`NoSuchFile`: none, as restic lists it).
async fn read_dir(
    session: &RawSftpSession,
    path: String,
) -> Result<Vec<(String, FileAttributes)>, SftpError> {
    let handle = match session.opendir(path).await {
        Ok(h) => h.handle,
        Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let result = loop {
        match session.readdir(handle.as_str()).await {
            Ok(name) => out.extend(name.files.into_iter().map(|f| (f.filename, f.attrs))),
            Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break Ok(out),
            Err(e) => break Err(e),
        }
    };
    let _ = session.close(handle).await;
    result
}

/// `length` bytes of the file at `path` from `offset` (`None`: to its end), with
/// several read requests in flight.
async fn read_file(
    session: &RawSftpSession,
    path: String,
    offset: u64,
    length: Option<u64>,
    read_len: u32,
) -> Result<Vec<u8>, Fail> {
    let handle = session
        .open(path, OpenFlags::READ, FileAttributes::empty())
        .await?
        .handle;
    let result = read_handle(session, &handle, offset, length, read_len).await;
    let _ = session.close(handle).await;
    result
}

async fn read_handle(
    session: &RawSftpSession,
    handle: &str,
    offset: u64,
    length: Option<u64>,
    read_len: u32,
) -> Result<Vec<u8>, Fail> {
    let want = match length {
        Some(l) => l,
        None => session
            .fstat(handle)
            .await?
            .attrs
            .size
            .unwrap_or(0)
            .saturating_sub(offset),
    };
    let step = u64::from(read_len.max(1));
    let chunks = (0..want.div_ceil(step)).map(|i| {
        let at = offset + i * step;
        (
            at,
            u32::try_from(step.min(offset + want - at)).unwrap_or(read_len),
        )
    });
    let mut data = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    let mut pieces = stream::iter(chunks)
        .map(|(at, len)| async move { (at, len, session.read(handle, at, len).await) })
        .buffered(READS_IN_FLIGHT);
    while let Some((at, len, got)) = pieces.next().await {
        let mut piece = match got {
            Ok(d) => d.data,
            Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        // A server may answer with fewer bytes than asked: ask for the rest.
        while piece.len() < len as usize {
            let from = at + piece.len() as u64;
            let rest = len - piece.len() as u32;
            match session.read(handle, from, rest).await {
                Ok(d) if !d.data.is_empty() => piece.extend_from_slice(&d.data),
                Ok(_) => break,
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
                Err(e) => return Err(e.into()),
            }
        }
        let short = piece.len() < len as usize;
        data.extend_from_slice(&piece);
        if short {
            return Err(Fail::Short {
                want,
                got: data.len() as u64,
            });
        }
    }
    // Without a length, the size was the file's: more bytes would be a new file.
    Ok(data)
}

impl SftpBackend {
    /// Where a file of the repository is on the server (restic's default layout).
    fn path(&self, tpe: FileType, id: &Id) -> String {
        let hex = id.to_hex();
        let hex = hex.as_str();
        match tpe {
            FileType::Config => format!("{}/config", self.root),
            FileType::Pack => format!("{}/data/{}/{hex}", self.root, &hex[..2]),
            _ => format!("{}/{}/{hex}", self.root, tpe.dirname()),
        }
    }

    /// Runs `work` on the session and turns what went wrong into an `Error` about
    /// `what` (a path on the server).
    fn block<T, F>(
        &self,
        what: &str,
        work: impl FnOnce(Arc<RawSftpSession>) -> F,
    ) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, Fail>>,
    {
        let (Some(runtime), Some(session)) = (&self.runtime, &self.session) else {
            return Err(self.error(Kind::Network, format!("{what}: the sftp session is closed")));
        };
        runtime
            .block_on(work(Arc::clone(session)))
            .map_err(|f| self.failed(what, f))
    }

    fn error(&self, kind: Kind, message: String) -> Error {
        Error::new(kind, &self.shown, self.redactor.redact(&message))
    }

    fn failed(&self, what: &str, fail: Fail) -> Error {
        let e = match fail {
            Fail::Short { want, got } => {
                return self.error(
                    Kind::File,
                    format!("{what}: the file ends after {got} of the {want} bytes asked for"),
                )
            }
            Fail::Sftp(e) => e,
        };
        match e {
            SftpError::Status(s) => {
                let code = match s.status_code {
                    StatusCode::NoSuchFile => "no such file".to_owned(),
                    StatusCode::PermissionDenied => "permission denied".to_owned(),
                    other => format!("{other}: {}", s.error_message),
                };
                self.error(Kind::File, format!("{what}: {code}"))
            }
            SftpError::Timeout => self.error(
                Kind::Network,
                format!(
                    "{what}: the server did not answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ),
            ),
            other => {
                let said = self
                    .child
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_ref()
                    .map(Piped::stderr_tail)
                    .unwrap_or_default();
                let mut message =
                    format!("{what}: the connection to the sftp server was lost ({other})");
                let lines = last_lines(&said, 3);
                if !lines.is_empty() {
                    message.push_str(&format!("; ssh said: {lines}"));
                }
                self.error(Kind::Network, message)
            }
        }
    }

    /// Every file of `tpe` with its size.
    fn listed(&self, tpe: FileType) -> Result<Vec<(Id, u32)>, Error> {
        let dir = format!("{}/{}", self.root, tpe.dirname());
        let size = |a: &FileAttributes| u32::try_from(a.size.unwrap_or(0)).unwrap_or(u32::MAX);
        if tpe == FileType::Config {
            let path = dir.clone();
            return self.block(&dir, |s| async move {
                match s.stat(path).await {
                    Ok(a) => Ok(vec![(Id::default(), size(&a.attrs))]),
                    Err(SftpError::Status(st)) if st.status_code == StatusCode::NoSuchFile => {
                        Ok(Vec::new())
                    }
                    Err(e) => Err(e.into()),
                }
            });
        }
        let entries = self.block(&dir, |s| {
            let dir = dir.clone();
            async move {
                let top = read_dir(&s, dir.clone()).await?;
                if tpe != FileType::Pack {
                    return Ok(top);
                }
                // restic's data/ holds 256 subdirectories (`00` … `ff`).
                let subdirs = top
                    .into_iter()
                    .filter(|(name, a)| a.is_dir() && name != "." && name != "..")
                    .map(|(name, _)| format!("{dir}/{name}"));
                let s = &s;
                let lists: Vec<Vec<(String, FileAttributes)>> = stream::iter(subdirs)
                    .map(|d| read_dir(s, d))
                    .buffer_unordered(LISTS_IN_FLIGHT)
                    .try_collect()
                    .await?;
                Ok(lists.into_iter().flatten().collect())
            }
        })?;
        Ok(entries
            .iter()
            .filter(|(_, a)| a.is_regular())
            .filter_map(|(name, a)| Some((Id::parse_some(name, tpe)?, size(a))))
            .collect())
    }
}

/// A rustic_core error carrying an SFTP `Error` (callers find it by downcasting
/// the source chain to sort it).
fn rustic(e: Error) -> Box<RusticError> {
    RusticError::with_source(ErrorKind::Backend, "the sftp backend failed", e)
}

impl ReadBackend for SftpBackend {
    fn location(&self) -> String {
        self.shown.clone()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.listed(tpe).map_err(rustic)
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let path = self.path(tpe, id);
        let read_len = self.read_len;
        self.block(&path, |s| {
            let path = path.clone();
            async move { read_file(&s, path, 0, None, read_len).await }
        })
        .map(Bytes::from)
        .map_err(rustic)
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let path = self.path(tpe, id);
        let read_len = self.read_len;
        self.block(&path, |s| {
            let path = path.clone();
            async move { read_file(&s, path, offset.into(), Some(length.into()), read_len).await }
        })
        .map(Bytes::from)
        .map_err(rustic)
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.path(tpe, id)
    }
}

impl WriteBackend for SftpBackend {
    fn write_bytes(&self, _: FileType, _: &Id, _: bool, _: BytesList) -> RusticResult<()> {
        Err(RusticError::new(
            ErrorKind::Unsupported,
            "the sftp reader of restic-verify is read-only",
        ))
    }

    fn remove(&self, _: FileType, _: &Id, _: bool) -> RusticResult<()> {
        Err(RusticError::new(
            ErrorKind::Unsupported,
            "the sftp reader of restic-verify is read-only",
        ))
    }
}

impl Drop for SftpBackend {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        {
            let _inside = runtime.enter();
            if let Some(s) = self.session.take() {
                let _ = s.close_session();
            }
            // Kills ssh's process group.
            drop(
                self.child
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take(),
            );
        }
        // Also allowed where blocking is not (a backend dropped in async code).
        runtime.shutdown_background();
    }
}
