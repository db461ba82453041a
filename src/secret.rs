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
///
/// The rule, safe for short secrets: the user-info of every URL in the text
/// (`scheme://user:pw@host`) is replaced whatever its length, known or not (restic
/// echoes a URL it cannot parse as given); a known secret of `MIN_LEN` or more
/// characters is replaced wherever it occurs; a shorter one only where it stands
/// as a token of its own (no letter or digit right before or after it), so that a
/// 5-character password is scrubbed from `alice:abc12@host` or `password abc12`
/// while an `a` inside every word stays.
#[derive(Clone, Default, Debug)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    /// Secrets this long are replaced wherever they occur; shorter ones only as
    /// whole tokens.
    const MIN_LEN: usize = 6;

    pub fn add(&mut self, secret: &Secret) {
        let v = secret.expose().trim();
        if !v.is_empty() && !self.secrets.iter().any(|s| s.expose() == v) {
            self.secrets.push(Secret::new(v));
            // Longest first, so a secret that contains another is replaced whole.
            self.secrets
                .sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = redact_urls_in(text);
        for s in &self.secrets {
            let v = s.expose();
            if !out.contains(v) {
                continue;
            }
            out = if v.chars().count() >= Self::MIN_LEN {
                out.replace(v, REDACTED)
            } else {
                replace_tokens(&out, v)
            };
        }
        out
    }
}

/// Replaces `needle` where no letter or digit touches it on either side.
fn replace_tokens(text: &str, needle: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(needle) {
        if i < last {
            continue; // overlaps the previous replacement
        }
        let before = text[..i].chars().next_back();
        let after = text[i + needle.len()..].chars().next();
        if before.is_some_and(char::is_alphanumeric) || after.is_some_and(char::is_alphanumeric) {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str(REDACTED);
        last = i + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

/// Characters that end a URL's authority in free text.
fn ends_authority(c: char) -> bool {
    c == '/'
        || c.is_whitespace()
        || matches!(c, '"' | '\'' | '`' | '<' | '>' | '(' | ')' | ',' | ';')
}

/// Replaces the user-info of every `scheme://user-info@host` in free text.
fn redact_urls_in(text: &str) -> String {
    if !text.contains("://") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(ends_authority).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) if !authority[..at].starts_with(REDACTED) => {
                let userinfo = &authority[..at];
                if let Some((user, _)) = userinfo.split_once(':') {
                    out.push_str(user);
                    out.push(':');
                }
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Where a repository URL's authority starts: after `scheme://`, or for a
/// scheme-less form (`rest:user:pw@host/`, which restic rejects but echoes) after
/// the backend prefix; with whether a user name alone counts as a secret (a
/// `://` URL's user-info may be a token; `sftp:user@host:` names a user).
fn authority_start(url: &str) -> Option<(usize, bool)> {
    if let Some(i) = url.find("://") {
        return Some((i + 3, true));
    }
    let colon = url.find(':')?;
    url[..colon]
        .chars()
        .all(|c| c.is_ascii_alphanumeric())
        .then_some((colon + 1, false))
}

/// Removes the password from a URL's user-info (`rest:https://user:pw@host/`,
/// `s3:https://key:secret@host/bucket`) so the URL can be logged and shown.
pub fn redact_url(url: &str) -> String {
    let Some((start, user_is_secret)) = authority_start(url) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:{REDACTED}"),
        None if user_is_secret => REDACTED.to_owned(),
        None => return url.to_owned(),
    };
    format!("{}{}@{}", &url[..start], shown, &rest[at + 1..])
}

/// The password part of a URL's user-info, if any, so a `Redactor` can scrub it
/// (a user-info without a password, a token, too).
pub fn url_password(url: &str) -> Option<Secret> {
    let (start, user_is_secret) = authority_start(url)?;
    let rest = &url[start..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let pw = match authority[..at].split_once(':') {
        Some((_, pw)) => pw,
        None if user_is_secret => &authority[..at],
        None => return None,
    };
    (!pw.is_empty()).then(|| Secret::new(pw))
}

/// Whether free text holds a URL with user-info (`scheme://user:pw@host`).
pub fn has_url_credentials(text: &str) -> bool {
    redact_urls_in(text) != text
}

/// Segments of a command-line flag's name that make it carry a credential
/// (`--b2-key`, `--sftp-pass`, `--azureblob-sas-url`, `--webdav-bearer-token`).
const SECRET_FLAG_WORDS: [&str; 9] = [
    "pass",
    "password",
    "passwd",
    "key",
    "secret",
    "token",
    "sas",
    "credentials",
    "pem",
];

/// The flag of `words[i]` (`--b2-key` or `--b2-key=…`) when it names a credential
/// and is given a value (`=…` or a next word that is not a flag); a flag naming a
/// file or path (`--sftp-key-file /k`) holds none.
fn secret_flag<'a>(words: &[&'a str], i: usize) -> Option<&'a str> {
    let w = words[i];
    if !w.starts_with('-') {
        return None;
    }
    let (name, inline) = match w.split_once('=') {
        Some((n, v)) => (n, !v.is_empty()),
        None => (w, false),
    };
    let lower = name.trim_start_matches('-').to_ascii_lowercase();
    let segments: Vec<&str> = lower.split(['-', '_']).collect();
    let last = segments.last().copied().unwrap_or_default();
    let names_secret = segments.iter().any(|s| SECRET_FLAG_WORDS.contains(s))
        && !matches!(last, "file" | "files" | "path" | "agent");
    let valued = inline || words.get(i + 1).is_some_and(|n| !n.starts_with('-'));
    (names_secret && valued).then_some(name)
}

/// What in a restic `-o` value (`rclone.args=…`, `sftp.command=…`) carries a
/// credential, said without the credential: a flag naming one with a value
/// (`--b2-key K…`, `--sftp-pass=…`), `sshpass -p`, ssh's `-o Password=…`, or a URL
/// with user-info. `None` when nothing recognisable does. The caller refuses the
/// option: options go on restic's command line, which every user can read.
pub fn option_value_secret(value: &str) -> Option<String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let base = w.rsplit('/').next().unwrap_or(w);
        if base == "sshpass" {
            if let Some(p) = words[i + 1..].iter().find(|a| a.starts_with("-p")) {
                return Some(format!(
                    "runs `sshpass {}` with a password; use `sshpass -e` with SSHPASS=… in `env-file`, or better a key file",
                    p.get(..2).unwrap_or("-p")
                ));
            }
        }
        let ssh_option = match *w {
            "-o" => words.get(i + 1).copied(),
            w => w.strip_prefix("-o").filter(|o| !o.is_empty()),
        };
        if ssh_option.is_some_and(|o| {
            o.split(['=', ' '])
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case("password"))
        }) {
            return Some(
                "passes ssh `-o Password=…`; use a key file (`-i`), or `sshpass -e` with SSHPASS=… in `env-file`"
                    .to_owned(),
            );
        }
        if let Some(flag) = secret_flag(&words, i) {
            let var = format!(
                "RCLONE_{}",
                flag.trim_start_matches('-')
                    .to_ascii_uppercase()
                    .replace('-', "_")
            );
            return Some(format!(
                "passes `{flag}` with a value; rclone reads it from the environment: put {var}=… in `env-file`"
            ));
        }
    }
    has_url_credentials(value).then(|| {
        "holds a URL with user-info (user:password@); put the credentials in `env-file`".to_owned()
    })
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
        assert_eq!(
            r.redact("x abcdefgh y abcdef zabcdefz"),
            "x [redacted] y [redacted] z[redacted]z"
        );
    }

    // See: issue #20, item 6.
    #[rstest]
    #[case(
        "Head \"http://alice:abc12@127.0.0.1:1/r/config\"",
        "Head \"http://alice:[redacted]@127.0.0.1:1/r/config\""
    )]
    #[case(
        "location: rest:alice:abc12@host/r",
        "location: rest:alice:[redacted]@host/r"
    )]
    #[case(
        "password abc12, again abc12.",
        "password [redacted], again [redacted]."
    )]
    #[case("xabc12 abc12y abc123", "xabc12 abc12y abc123")]
    fn redactor_scrubs_a_short_password_as_a_token_and_in_every_url(
        #[case] text: &str,
        #[case] want: &str,
    ) {
        let mut r = Redactor::default();
        r.add(&Secret::new("abc12"));
        assert_eq!(r.redact(text), want);
    }

    #[test]
    fn redactor_one_letter_secret_leaves_words_alone() {
        let mut r = Redactor::default();
        r.add(&Secret::new("a"));
        assert_eq!(r.redact("a cabbage: a"), "[redacted] cabbage: [redacted]");
    }

    #[rstest]
    #[case(
        "parse \"http://bob:pw@h/\": bad",
        "parse \"http://bob:[redacted]@h/\": bad"
    )]
    #[case(
        "https://tok@h/x and s3://k:s@h",
        "https://[redacted]@h/x and s3://k:[redacted]@h"
    )]
    #[case("http://alice:***@h/r", "http://alice:[redacted]@h/r")]
    #[case("no url: a@b", "no url: a@b")]
    #[case("http://host/p@q", "http://host/p@q")]
    fn redactor_scrubs_unknown_url_credentials_structurally(
        #[case] text: &str,
        #[case] want: &str,
    ) {
        assert_eq!(Redactor::default().redact(text), want);
    }

    #[rstest]
    #[case(
        "rest:https://user:pw1234@host:8000/repo",
        "rest:https://user:[redacted]@host:8000/repo"
    )]
    #[case("rest:https://token@host/repo", "rest:https://[redacted]@host/repo")]
    #[case("rest:http://alice:abc12@h/r/", "rest:http://alice:[redacted]@h/r/")]
    #[case("rest:alice:abc12@h/r", "rest:alice:[redacted]@h/r")]
    #[case("sftp:user@host:/srv/restic", "sftp:user@host:/srv/restic")]
    #[case("/mnt/nas/restic", "/mnt/nas/restic")]
    #[case("s3:https://s3.example.com/bucket", "s3:https://s3.example.com/bucket")]
    fn redact_url_hides_only_the_password(#[case] url: &str, #[case] want: &str) {
        assert_eq!(redact_url(url), want);
    }

    // See: issue #20, item 7.
    #[rstest]
    #[case(
        "serve restic --stdio --b2-hard-delete b2:bucket --b2-key K005abcdef",
        "`--b2-key`"
    )]
    #[case("serve restic --stdio --sftp-pass=hunter22 :sftp:", "`--sftp-pass`")]
    #[case(
        "serve restic --stdio --azureblob-sas-url https://x/?sig=s",
        "`--azureblob-sas-url`"
    )]
    #[case(
        "serve restic --drive-service-account-credentials {json}",
        "`--drive-service-account-credentials`"
    )]
    #[case(
        "serve restic --s3-secret-access-key S3CR3T",
        "`--s3-secret-access-key`"
    )]
    #[case("serve restic --webdav-bearer-token T0K", "`--webdav-bearer-token`")]
    #[case("sshpass -p hunter22 ssh nas -s sftp", "`sshpass -p`")]
    #[case("/usr/bin/sshpass -phunter22 ssh nas -s sftp", "`sshpass -p`")]
    #[case("ssh -o Password=hunter22 nas -s sftp", "`-o Password=…`")]
    #[case("ssh -oPassword=hunter22 nas -s sftp", "`-o Password=…`")]
    #[case("serve restic --stdio http://bob:pw1@host/", "user-info")]
    fn option_value_secret_names_the_form_never_the_value(#[case] value: &str, #[case] says: &str) {
        let m = option_value_secret(value).expect("refused");
        assert!(m.contains(says), "{m}");
        for secret in [
            "K005abcdef",
            "hunter22",
            "sig=s",
            "{json}",
            "S3CR3T",
            "T0K",
            "pw1",
        ] {
            assert!(!m.contains(secret), "{m}");
        }
    }

    #[rstest]
    #[case("ssh -p 2222 -i /etc/k -o PasswordAuthentication=no -o BatchMode=yes nas -s sftp")]
    #[case("serve restic --stdio --sftp-key-file /etc/k --sftp-key-use-agent --b2-hard-delete")]
    #[case("serve restic --stdio --sftp-ask-password --fast-list")]
    #[case("sshpass -e ssh nas -s sftp")]
    #[case("4")]
    fn option_value_secret_lets_ordinary_values_pass(#[case] value: &str) {
        assert_eq!(option_value_secret(value), None);
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
