//! What restic would run for an `sftp:` repository and what ssh's stderr means
//! (pure): restic's URL forms parsed as its `sftp.ParseConfig` does, its ssh command
//! built as its `buildSSHCommand` does from the `sftp.*` options, and ssh's
//! complaints sorted into network, auth and config problems.

use std::ffi::OsString;
use std::path::PathBuf;

/// restic's options for `sftp:` (others belong to other backends and are ignored,
/// as restic ignores them).
const OPTIONS: [&str; 3] = ["sftp.command", "sftp.args", "sftp.connections"];

/// Where an `sftp:` URL points, as restic parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub user: Option<String>,
    /// A host name, an address or an ssh config alias.
    pub host: String,
    pub port: Option<String>,
    /// The repository's directory on the server (relative: to the login's home).
    pub path: String,
}

/// Parses restic's `sftp:` URL forms (restic's `sftp.ParseConfig`).
///
/// # Errors
/// Not an `sftp:` URL, no host or path, or a path starting with `~` (restic
/// refuses it too: most servers do not expand it).
pub fn parse(url: &str) -> Result<Location, String> {
    let (user, host, port, dir) = if let Some(rest) = url.strip_prefix("sftp://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err("no directory given (write `sftp://[user@]host[:port]//absolute/path` or `sftp://host/relative/path`)".to_owned());
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            // A password in the URL is not used (ssh asks its own way).
            Some((u, h)) => (Some(u.split(':').next().unwrap_or(u).to_owned()), h),
            None => (None, authority),
        };
        let (host, port) = split_port(hostport);
        (user, host, port, path.to_owned())
    } else if let Some(rest) = url.strip_prefix("sftp:") {
        let Some((userhost, dir)) = rest.split_once(':') else {
            return Err(
                "no `:` between the host and the path (write `sftp:[user@]host:/path`)".to_owned(),
            );
        };
        // restic: a user may itself hold one `@` (`a@b@host`).
        let (user, host) = match userhost.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h.to_owned()),
            None => (None, userhost.to_owned()),
        };
        (user, host, None, dir.to_owned())
    } else {
        return Err("not an `sftp:` URL".to_owned());
    };
    if host.is_empty() {
        return Err("no host given".to_owned());
    }
    let path = clean(&dir);
    if path.starts_with('~') {
        return Err("the path starts with `~`, which most sftp servers do not expand; write a path relative to the login's home directory instead".to_owned());
    }
    Ok(Location {
        user: user.filter(|u| !u.is_empty()),
        host,
        port,
        path,
    })
}

/// `host:port`, `[v6]:port`, `host` → (host, port).
fn split_port(hostport: &str) -> (String, Option<String>) {
    if let Some(rest) = hostport.strip_prefix('[') {
        if let Some((h, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').filter(|p| !p.is_empty());
            return (h.to_owned(), port.map(str::to_owned));
        }
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h.to_owned(), Some(p.to_owned()))
        }
        _ => (hostport.to_owned(), None),
    }
}

/// Go's `path.Clean`: one `/` between elements, no `.`, `..` resolved, `.` when empty.
fn clean(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !absolute {
                    out.push("..");
                }
            }
            _ => out.push(part),
        }
    }
    let joined = out.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The program and arguments restic would run for `loc` with these `-o` options
/// (restic's `buildSSHCommand`): `sftp.command` whole, else `ssh HOST [-p PORT] [-l
/// USER] [sftp.args…] -s sftp`.
///
/// # Errors
/// An unknown `sftp.*` option, both `sftp.command` and `sftp.args`, an option that
/// does not split into words, an empty command, a bad `sftp.connections`.
pub fn command(
    loc: &Location,
    options: &[(String, String)],
) -> Result<(PathBuf, Vec<OsString>), String> {
    for (k, v) in options {
        if k.starts_with("sftp.") && !OPTIONS.contains(&k.as_str()) {
            return Err(format!(
                "option `{k}` is not an sftp option restic knows (those are `sftp.command`, `sftp.args`, `sftp.connections`)"
            ));
        }
        if k == "sftp.connections" && v.parse::<u32>().map_or(true, |n| n == 0) {
            return Err(format!(
                "option `sftp.connections` must be a number above 0, not `{v}`"
            ));
        }
    }
    let get = |key: &str| {
        options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let split = |key: &str, v: &str| {
        shell_words::split(v).map_err(|e| format!("option `{key}` cannot be split into words: {e}"))
    };
    if let Some(c) = get("sftp.command") {
        if get("sftp.args").is_some() {
            return Err("options `sftp.command` and `sftp.args` cannot both be given (restic refuses them too): put the arguments into `sftp.command`".to_owned());
        }
        let mut words = split("sftp.command", c)?.into_iter();
        let Some(program) = words.next() else {
            return Err("option `sftp.command` is empty".to_owned());
        };
        return Ok((PathBuf::from(program), words.map(OsString::from).collect()));
    }
    let mut args: Vec<OsString> = vec![loc.host.clone().into()];
    if let Some(p) = &loc.port {
        args.extend(["-p".into(), p.into()]);
    }
    if let Some(u) = &loc.user {
        args.extend(["-l".into(), u.into()]);
    }
    if let Some(a) = get("sftp.args") {
        args.extend(split("sftp.args", a)?.into_iter().map(OsString::from));
    }
    args.extend(["-s".into(), "sftp".into()]);
    Ok((PathBuf::from("ssh"), args))
}

/// What kind of problem an `Error` of the sftp backend is (`classify` sorts ssh's
/// complaints into these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Auth,
    Config,
    File,
}

/// What ssh's stderr says went wrong (`exited`: ssh's exit code, if it is gone), as
/// a kind and a sentence; the caller adds the lines ssh printed.
pub fn classify(stderr: &str, exited: Option<i32>) -> (Kind, &'static str) {
    const NETWORK: [&str; 11] = [
        "Could not resolve hostname",
        "Connection refused",
        "Connection timed out",
        "Connection reset",
        "Connection closed",
        "No route to host",
        "Network is unreachable",
        "kex_exchange_identification",
        "Temporary failure in name resolution",
        "Broken pipe",
        "Connection to ",
    ];
    let has = |m: &str| stderr.contains(m);
    if has("Permission denied (") || has("Too many authentication failures") {
        return (Kind::Auth, "ssh's login was refused");
    }
    if has("Host key verification failed") || has("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return (Kind::Config, "ssh does not trust the server's host key: add it to the known_hosts file of the user restic-verify runs as");
    }
    if has("Bad configuration option")
        || has("Unsupported option")
        || has("Bad owner or permissions")
        || has("command-line line")
        || has("Can't open user config file")
        || has("unknown option")
        || has("usage: ssh")
    {
        return (Kind::Config, "ssh rejected its configuration or arguments");
    }
    if has("subsystem request failed") {
        return (Kind::Config, "the server does not offer the sftp subsystem");
    }
    if NETWORK.iter().any(|m| has(m)) {
        return (
            Kind::Network,
            "ssh could not connect or lost the connection",
        );
    }
    match exited {
        // ssh's own failures exit 255; a command that is not an sftp server exits
        // otherwise and says nothing useful.
        Some(255) | None => (Kind::Network, "the sftp session ended"),
        Some(_) => (Kind::Config, "the sftp command exited before the sftp session started (is `sftp.command` an sftp server?)"),
    }
}

/// The last non-empty lines of `text`, at most `n`, joined by ` | `.
pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn loc(user: Option<&str>, host: &str, port: Option<&str>, path: &str) -> Location {
        Location {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port: port.map(str::to_owned),
            path: path.to_owned(),
        }
    }

    // restic's forms (restic's own ParseConfig tests give the same).
    #[rstest]
    #[case(
        "sftp:user@host:/srv/restic",
        loc(Some("user"), "host", None, "/srv/restic")
    )]
    #[case("sftp:host:repo", loc(None, "host", None, "repo"))]
    #[case("sftp:nas:/srv/./restic/", loc(None, "nas", None, "/srv/restic"))]
    #[case("sftp:a@b@host:/r", loc(Some("a@b"), "host", None, "/r"))]
    #[case(
        "sftp://user@host:2222//srv/restic",
        loc(Some("user"), "host", Some("2222"), "/srv/restic")
    )]
    #[case("sftp://host/relative/dir", loc(None, "host", None, "relative/dir"))]
    #[case("sftp://u@[::1]:22//r", loc(Some("u"), "::1", Some("22"), "/r"))]
    fn parse_reads_restics_url_forms(#[case] url: &str, #[case] want: Location) {
        assert_eq!(parse(url).expect(url), want);
    }

    #[rstest]
    #[case("sftp:hostonly", "no `:`")]
    #[case("sftp://host", "no directory")]
    #[case("sftp::/r", "no host")]
    #[case("sftp:host:~/repo", "starts with `~`")]
    #[case("s3:host/bucket", "not an `sftp:` URL")]
    fn parse_refuses_what_restic_refuses(#[case] url: &str, #[case] want: &str) {
        let e = parse(url).unwrap_err();
        assert!(e.contains(want), "{url}: {e}");
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn line(cmd: &(PathBuf, Vec<OsString>)) -> String {
        let mut words = vec![cmd.0.display().to_string()];
        words.extend(cmd.1.iter().map(|a| a.to_string_lossy().into_owned()));
        words.join(" ")
    }

    #[rstest]
    #[case::alias("sftp:nas:/srv/restic", &[], "ssh nas -s sftp")]
    #[case::user_and_port("sftp://backup@nas:2222//srv/restic", &[], "ssh nas -p 2222 -l backup -s sftp")]
    #[case::args("sftp:nas:/r", &[("sftp.args", "-i '/etc/my key' -o BatchMode=yes")], "ssh nas -i /etc/my key -o BatchMode=yes -s sftp")]
    #[case::command_replaces_all("sftp:u@nas:/r", &[("sftp.command", "ssh -p 2 -i /k nas -s sftp")], "ssh -p 2 -i /k nas -s sftp")]
    #[case::other_backends_ignored("sftp:nas:/r", &[("s3.region", "x"), ("sftp.connections", "5")], "ssh nas -s sftp")]
    fn command_is_the_one_restic_runs(
        #[case] url: &str,
        #[case] given: &[(&str, &str)],
        #[case] want: &str,
    ) {
        let l = parse(url).expect("url");
        assert_eq!(line(&command(&l, &opts(given)).expect("command")), want);
    }

    #[rstest]
    #[case(&[("sftp.comand", "ssh")], "`sftp.comand` is not an sftp option")]
    #[case(&[("sftp.command", "ssh h -s sftp"), ("sftp.args", "-v")], "cannot both be given")]
    #[case(&[("sftp.command", "")], "`sftp.command` is empty")]
    #[case(&[("sftp.args", "-i 'x")], "`sftp.args` cannot be split")]
    #[case(&[("sftp.connections", "0")], "`sftp.connections` must be a number")]
    fn command_bad_options_are_named(#[case] given: &[(&str, &str)], #[case] want: &str) {
        let l = parse("sftp:nas:/r").expect("url");
        let e = command(&l, &opts(given)).unwrap_err();
        assert!(e.contains(want), "{e}");
    }

    // ssh 9.2's own words, as restic's tests captured them.
    #[rstest]
    #[case(
        "ssh: connect to host 127.0.0.1 port 2299: Connection refused\r\n",
        Some(255),
        Kind::Network
    )]
    #[case(
        "ssh: Could not resolve hostname nas.invalid: Name or service not known\r\n",
        Some(255),
        Kind::Network
    )]
    #[case(
        "root@127.0.0.1: Permission denied (publickey).\r\n",
        Some(255),
        Kind::Auth
    )]
    #[case("Host key verification failed.\r\n", Some(255), Kind::Config)]
    #[case(
        "/root/.ssh/config: line 2: Bad configuration option: porrt\r\n",
        Some(255),
        Kind::Config
    )]
    #[case("subsystem request failed on channel 0\r\n", Some(255), Kind::Config)]
    #[case("", Some(255), Kind::Network)]
    #[case("", Some(1), Kind::Config)]
    #[case("", None, Kind::Network)]
    fn classify_sorts_what_ssh_says(
        #[case] stderr: &str,
        #[case] exited: Option<i32>,
        #[case] want: Kind,
    ) {
        assert_eq!(classify(stderr, exited).0, want);
    }

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\n\nb\r\nc\n", 2), "b | c");
        assert_eq!(last_lines("", 3), "");
    }
}
