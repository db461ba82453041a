//! Run-time secrets of one repository: the password source and the env file,
//! loaded when a run starts (never at parse time) into the variables restic's
//! environment gets, plus a `Redactor` that scrubs every one of them from text.
//!
//! Reads password and env files; writes nothing. Secrets reach restic (and the
//! in-process repository reader) only through `Credentials::env`, never argv.

use std::path::{Path, PathBuf};

use crate::secret::{self, Redactor, Secret};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("password file {} for repository `{repository}` does not exist; create it (mode 0600) or point `password-file` at the right file", path.display())]
    PasswordFileMissing { repository: String, path: PathBuf },
    #[error("password file {} for repository `{repository}` cannot be read: {source}", path.display())]
    PasswordFileUnreadable {
        repository: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("password file {} for repository `{repository}` is empty; restic refuses an empty password", path.display())]
    PasswordFileEmpty { repository: String, path: PathBuf },
    #[error("env file {} for repository `{repository}` cannot be read: {source}", path.display())]
    EnvFileUnreadable {
        repository: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("env file {}:{line} for repository `{repository}`: {message}", path.display())]
    EnvFileInvalid {
        repository: String,
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl Error {
    /// Whether the password itself is the problem (`auth`), not the configuration.
    /// A password file that does not exist is configuration (`config`, exit 2), as
    /// `validate` reports it: the operator must create it or fix `password-file`.
    pub fn is_password(&self) -> bool {
        match self {
            Error::PasswordFileUnreadable { .. } | Error::PasswordFileEmpty { .. } => true,
            Error::PasswordFileMissing { .. }
            | Error::EnvFileUnreadable { .. }
            | Error::EnvFileInvalid { .. } => false,
        }
    }
}

/// How restic gets the repository password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// `RESTIC_PASSWORD_FILE`.
    File(PathBuf),
    /// `RESTIC_PASSWORD_COMMAND`; the command line itself may hold a secret.
    Command(Secret),
    /// The env file sets one of restic's password variables itself.
    EnvFile,
}

impl PasswordSource {
    /// The profile key that gave this password, if the profile gave one.
    fn describe_key(&self) -> Option<&'static str> {
        match self {
            PasswordSource::File(_) => Some("password-file"),
            PasswordSource::Command(_) => Some("password-command"),
            PasswordSource::EnvFile => None,
        }
    }
}

/// What `load` needs to know about a repository.
#[derive(Debug)]
pub struct Source<'a> {
    /// The repository's name, for messages.
    pub repository: &'a str,
    /// The URL as restic takes it (may hold credentials).
    pub url: &'a Secret,
    pub password: &'a PasswordSource,
    pub env_file: Option<&'a Path>,
}

/// A warning when a password file can be read by group or others.
pub fn password_file_warning(repository: &str, path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "password file {} for repository `{repository}` is readable by others (mode {:04o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o7777,
            path.display()
        )
    })
}

/// What restic's environment needs for one repository, loaded at run time.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Variables for restic's environment only (never logged).
    pub env: Vec<(String, Secret)>,
    /// Scrubs every secret of this repository from text.
    pub redactor: Redactor,
}

/// restic's variables that this tool sets itself; the env file may set the password ones
/// only when the profile names no password.
const RESTIC_PASSWORD_VARS: [&str; 3] = [
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
];

/// Loads the password source and env file of a repository.
///
/// # Errors
/// A missing, unreadable or empty password file; an unreadable or malformed env file.
pub fn load(repo: &Source<'_>) -> Result<Credentials, Error> {
    let mut creds = Credentials::default();
    if let Some(pw) = secret::url_password(repo.url.expose()) {
        creds.redactor.add(&pw);
    }
    creds.env.push((
        "RESTIC_REPOSITORY".to_owned(),
        Secret::new(repo.url.expose()),
    ));
    match repo.password {
        PasswordSource::File(path) => {
            let content = std::fs::read(path).map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    Error::PasswordFileMissing {
                        repository: repo.repository.to_owned(),
                        path: path.to_path_buf(),
                    }
                } else {
                    Error::PasswordFileUnreadable {
                        repository: repo.repository.to_owned(),
                        path: path.to_path_buf(),
                        source,
                    }
                }
            })?;
            let text = String::from_utf8_lossy(&content);
            if text.trim().is_empty() {
                return Err(Error::PasswordFileEmpty {
                    repository: repo.repository.to_owned(),
                    path: path.to_path_buf(),
                });
            }
            creds.redactor.add(&Secret::new(text.trim()));
            creds.env.push((
                "RESTIC_PASSWORD_FILE".to_owned(),
                Secret::new(path.to_string_lossy()),
            ));
        }
        PasswordSource::Command(cmd) => {
            creds.redactor.add(cmd);
            creds
                .env
                .push(("RESTIC_PASSWORD_COMMAND".to_owned(), cmd.clone()));
        }
        PasswordSource::EnvFile => {}
    }
    if let Some(path) = repo.env_file {
        let text = std::fs::read_to_string(path).map_err(|source| Error::EnvFileUnreadable {
            repository: repo.repository.to_owned(),
            path: path.to_path_buf(),
            source,
        })?;
        let vars = parse_env_file(&text).map_err(|(line, message)| Error::EnvFileInvalid {
            repository: repo.repository.to_owned(),
            path: path.to_path_buf(),
            line,
            message,
        })?;
        let has_password = vars
            .iter()
            .any(|(k, _)| RESTIC_PASSWORD_VARS.contains(&k.as_str()));
        if *repo.password == PasswordSource::EnvFile && !has_password {
            return Err(Error::EnvFileInvalid {
                repository: repo.repository.to_owned(),
                path: path.to_path_buf(),
                line: 0,
                message: "no password: the profile names none and the env file sets none of RESTIC_PASSWORD_FILE, RESTIC_PASSWORD_COMMAND, RESTIC_PASSWORD".to_owned(),
            });
        }
        if let (Some((var, _)), Some(given)) = (
            vars.iter()
                .find(|(k, _)| RESTIC_PASSWORD_VARS.contains(&k.as_str())),
            repo.password.describe_key(),
        ) {
            return Err(Error::EnvFileInvalid {
                repository: repo.repository.to_owned(),
                path: path.to_path_buf(),
                line: 0,
                message: format!(
                    "sets {var} while the repository also has `{given}`; keep one of them (restic would take one silently)"
                ),
            });
        }
        for (k, v) in vars {
            if k == "RESTIC_REPOSITORY" {
                return Err(Error::EnvFileInvalid {
                    repository: repo.repository.to_owned(),
                    path: path.to_path_buf(),
                    line: 0,
                    message:
                        "sets RESTIC_REPOSITORY; the repository comes from the profile's `url`"
                            .to_owned(),
                });
            }
            if names_a_secret(&k) || v.expose().trim().chars().count() >= 6 {
                creds.redactor.add(&v);
            }
            creds.env.push((k, v));
        }
    }
    Ok(creds)
}

/// The caller's `RESTIC_*` variables (not this tool's own `RESTIC_VERIFY_*`),
/// sorted: restic never sees them, since `process` seals its environment.
pub fn inherited_restic_vars<I, S>(names: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut vars: Vec<String> = names
        .into_iter()
        .map(|n| n.as_ref().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("RESTIC_") && !n.starts_with("RESTIC_VERIFY_"))
        .collect();
    vars.sort();
    vars.dedup();
    vars
}

/// The warning a run gives once when the caller's environment holds `RESTIC_*`
/// variables (names only, never values), pointing to where they belong.
pub fn inherited_warning(vars: &[String]) -> Option<String> {
    (!vars.is_empty()).then(|| {
        format!(
            "ignoring {} from the environment: restic-verify gives restic a sealed environment, so restic never sees the caller's RESTIC_* variables; set the password with `password-file` (or `--password-file`) and other variables (RESTIC_CACERT, backend credentials) in the repository's `env-file` (or `--env-file`)",
            vars.join(", ")
        )
    })
}

/// Whether an env-file variable holds a credential by its name; its value is then
/// scrubbed from text whatever its length. A short value of another variable
/// (`RESTIC_PACK_SIZE=16`, `AWS_DEFAULT_REGION=eu`) is not: scrubbing every `16`
/// would hide numbers while protecting nothing.
fn names_a_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "PASS",
        "SECRET",
        "KEY",
        "TOKEN",
        "CREDENTIAL",
        "AUTH",
        "SAS",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Parses `KEY=VALUE` lines: blank lines and `#` comments are skipped, `export ` is
/// allowed, and one pair of surrounding quotes is removed from the value.
///
/// # Errors
/// The 1-based line number and what is wrong with it (the value is never quoted back).
pub fn parse_env_file(text: &str) -> Result<Vec<(String, Secret)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err((i + 1, "expected KEY=VALUE".to_owned()));
        };
        let k = k.trim();
        if k.is_empty()
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || k.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err((i + 1, format!("`{k}` is not a valid variable name")));
        }
        let v = v.trim();
        let v = ['"', '\'']
            .iter()
            .find_map(|q| v.strip_prefix(*q).and_then(|x| x.strip_suffix(*q)))
            .unwrap_or(v);
        out.push((k.to_owned(), Secret::new(v)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_env_file_handles_comments_export_and_quotes() {
        let vars = parse_env_file("# c\n\nexport B2_ACCOUNT_ID=abc\nB2_ACCOUNT_KEY=\"k e y\"\n")
            .expect("ok");
        let got: Vec<_> = vars.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
        assert_eq!(
            got,
            vec![("B2_ACCOUNT_ID", "abc"), ("B2_ACCOUNT_KEY", "k e y")]
        );
        assert_eq!(
            parse_env_file("a\n").map(|_| ()),
            Err((1, "expected KEY=VALUE".into()))
        );
    }

    #[test]
    fn load_env_file_password_next_to_a_profile_password_is_an_error_naming_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").expect("write");
        let env = dir.path().join("env");
        std::fs::write(&env, "RESTIC_PASSWORD=other\n").expect("write");
        let url = Secret::new("/srv/repo");
        let password = PasswordSource::File(pw);
        let e = load(&Source {
            repository: "nas",
            url: &url,
            password: &password,
            env_file: Some(&env),
        })
        .expect_err("both");
        let m = e.to_string();
        assert!(
            m.contains("RESTIC_PASSWORD") && m.contains("password-file") && m.contains("nas"),
            "{m}"
        );
        assert!(!m.contains("other"), "secret value quoted: {m}");
    }

    #[test]
    fn load_puts_url_and_password_file_in_the_environment_and_redacts_the_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "  hunter2 \n").expect("write");
        let url = Secret::new("rest:https://u:p4ssw0rd@host/repo");
        let password = PasswordSource::File(pw.clone());
        let c = load(&Source {
            repository: "nas",
            url: &url,
            password: &password,
            env_file: None,
        })
        .expect("load");
        let keys: Vec<&str> = c.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["RESTIC_REPOSITORY", "RESTIC_PASSWORD_FILE"]);
        assert_eq!(
            c.redactor.redact("x hunter2 p4ssw0rd y"),
            "x [redacted] [redacted] y"
        );
    }

    #[test]
    fn inherited_warning_names_restic_variables_but_not_ours_nor_values() {
        let vars = inherited_restic_vars([
            "PATH",
            "RESTIC_PASSWORD",
            "RESTIC_VERIFY_LOG",
            "RESTIC_CACERT",
        ]);
        assert_eq!(vars, ["RESTIC_CACERT", "RESTIC_PASSWORD"]);
        let w = inherited_warning(&vars).expect("warning");
        assert!(
            w.contains("RESTIC_CACERT, RESTIC_PASSWORD") && w.contains("env-file"),
            "{w}"
        );
        assert!(inherited_warning(&inherited_restic_vars(["RESTIC_VERIFY_X"])).is_none());
    }

    // See: issue #20, item 6.
    #[test]
    fn load_redacts_short_url_and_env_passwords_but_not_short_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = dir.path().join("env");
        std::fs::write(&env, "RESTIC_PASSWORD=pw9\nRESTIC_PACK_SIZE=16\n").expect("write");
        let url = Secret::new("rest:http://alice:abc12@127.0.0.1:1/r/");
        let c = load(&Source {
            repository: "r",
            url: &url,
            password: &PasswordSource::EnvFile,
            env_file: Some(&env),
        })
        .expect("load");
        assert_eq!(
            c.redactor
                .redact("parse \"http://alice:abc12@h/\": abc12 pw9, pack 16 MiB"),
            "parse \"http://alice:[redacted]@h/\": [redacted] [redacted], pack 16 MiB"
        );
    }
}
