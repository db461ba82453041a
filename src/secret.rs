//! Secret values (passwords, tokens, credentials in URLs) and their redaction.
//!
//! A `Secret` never prints itself: `Debug` and `Display` show `[redacted]`. A
//! `Redactor` knows every secret of a run and scrubs them from any text that leaves
//! the process (restic's stderr in an error message, a log line, a JSONL record).
//! This module only transforms strings; it reads no files.

use std::fmt;

/// What redacted text shows in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// A string that must never be shown.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; only for handing it to restic's environment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Scrubs known secrets out of text.
#[derive(Clone, Default, Debug)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    /// Values shorter than this are not scrubbed: replacing every "a" in a message
    /// would destroy it while protecting nothing worth protecting.
    const MIN_LEN: usize = 6;

    pub fn add(&mut self, secret: &Secret) {
        let v = secret.expose().trim();
        if v.len() >= Self::MIN_LEN && !self.secrets.iter().any(|s| s.expose() == v) {
            self.secrets.push(Secret::new(v));
            // Longest first, so a secret that contains another is replaced whole.
            self.secrets
                .sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.expose()) {
                out = out.replace(s.expose(), REDACTED);
            }
        }
        out
    }
}

/// Removes the password from a URL's user-info (`rest:https://user:pw@host/`,
/// `s3:https://key:secret@host/bucket`) so the URL can be logged and shown.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    let shown = if userinfo.contains(':') {
        format!("{user}:{REDACTED}")
    } else {
        REDACTED.to_owned()
    };
    format!("{}{}@{}", &url[..scheme_end + 3], shown, &rest[at + 1..])
}

/// The password part of a URL's user-info, if any, so a `Redactor` can scrub it.
pub fn url_password(url: &str) -> Option<Secret> {
    let scheme_end = url.find("://")?;
    let rest = &url[scheme_end + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let (_, pw) = authority[..at].split_once(':')?;
    (!pw.is_empty()).then(|| Secret::new(pw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn secret_debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter22");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
    }

    #[test]
    fn redactor_scrubs_every_occurrence_and_longest_first() {
        let mut r = Redactor::default();
        r.add(&Secret::new("abcdef"));
        r.add(&Secret::new("abcdefgh"));
        r.add(&Secret::new("ab"));
        assert_eq!(
            r.redact("x abcdefgh y abcdef z ab"),
            "x [redacted] y [redacted] z ab"
        );
    }

    #[rstest]
    #[case(
        "rest:https://user:pw1234@host:8000/repo",
        "rest:https://user:[redacted]@host:8000/repo"
    )]
    #[case("rest:https://token@host/repo", "rest:https://[redacted]@host/repo")]
    #[case("sftp:user@host:/srv/restic", "sftp:user@host:/srv/restic")]
    #[case("/mnt/nas/restic", "/mnt/nas/restic")]
    #[case("s3:https://s3.example.com/bucket", "s3:https://s3.example.com/bucket")]
    fn redact_url_hides_only_the_password(#[case] url: &str, #[case] want: &str) {
        assert_eq!(redact_url(url), want);
    }

    #[test]
    fn url_password_extracts_the_userinfo_password() {
        assert_eq!(
            url_password("rest:https://u:s3cret@h/r").map(|s| s.expose().to_owned()),
            Some("s3cret".to_owned())
        );
        assert!(url_password("/mnt/x").is_none());
    }
}
