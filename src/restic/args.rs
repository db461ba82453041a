//! restic's command lines (pure): snapshot filters, what `check` reads, and the
//! arguments of every call, each built by a function with unit tests. Nothing
//! here runs restic; `session` does, through `process`.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::version::Version;

/// restic's `--read-data-subset=n/t` accepts at most this many groups.
pub const MAX_SUBSET_GROUPS: u16 = 256;

/// How much pack data `restic check` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadData {
    /// Structure only.
    None,
    /// `--read-data`: every pack.
    Full,
    /// `--read-data-subset=SPEC` as restic takes it (`n/t`, `x%`, a size).
    Subset(String),
    /// `rotate/T`: group `k/T` this run, the next group the next run; needs a state dir.
    Rotate(u16),
    /// `read-budget`: about this many bytes a run, the groups whose packs waited
    /// longest (chosen from the pack ledger); needs a state dir.
    Budget(u64),
    /// `new` (`new+rotate/T`): restic's structural check (with rotation group `k/T`
    /// read by restic), then every pack the ledger has never seen read, read in
    /// process, oldest first, up to `budget` bytes when set; needs a state dir.
    New {
        rotate: Option<u16>,
        budget: Option<u64>,
    },
}

impl fmt::Display for ReadData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadData::None => f.write_str("none"),
            ReadData::Full => f.write_str("all"),
            ReadData::Subset(s) => f.write_str(s),
            ReadData::Rotate(t) => write!(f, "rotate/{t}"),
            ReadData::Budget(b) => write!(f, "budget/{b}"),
            ReadData::New { rotate, budget } => {
                f.write_str("new")?;
                if let Some(t) = rotate {
                    write!(f, "+rotate/{t}")?;
                }
                match budget {
                    Some(b) => write!(f, " (read-budget {b})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Which snapshots count, as restic's `--host`, `--tag`, `--path` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotFilter {
    pub host: Vec<String>,
    pub tag: Vec<String>,
    pub path: Vec<String>,
}

/// Parses a read-data spec: `n/t`, `x%`, a size such as `100M`, or `rotate/T`.
///
/// # Errors
/// A message saying which bound was broken and what restic accepts.
pub fn parse_read_data_subset(s: &str) -> Result<ReadData, String> {
    let s = s.trim();
    if s == "new" {
        return Ok(ReadData::New {
            rotate: None,
            budget: None,
        });
    }
    if let Some(rest) = s.strip_prefix("new+") {
        return match parse_read_data_subset(rest) {
            Ok(ReadData::Rotate(t)) => Ok(ReadData::New {
                rotate: Some(t),
                budget: None,
            }),
            _ => Err(format!(
                "`{s}`: after `new+` comes `rotate/T` (e.g. `new+rotate/12`: the new packs, then one rotation group of the others)"
            )),
        };
    }
    if let Some(t) = s.strip_prefix("rotate/") {
        let t: u16 = t.parse().map_err(|_| {
            format!(
                "`{s}`: `rotate/T` needs a whole number of groups T from 1 to {MAX_SUBSET_GROUPS}"
            )
        })?;
        if t == 0 || t > MAX_SUBSET_GROUPS {
            return Err(format!(
                "`{s}`: T must be from 1 to {MAX_SUBSET_GROUPS} (restic splits packs into at most {MAX_SUBSET_GROUPS} groups)"
            ));
        }
        return Ok(ReadData::Rotate(t));
    }
    if let Some((n, t)) = s.split_once('/') {
        let (Ok(n), Ok(t)) = (n.parse::<u32>(), t.parse::<u32>()) else {
            return Err(format!("`{s}`: `n/t` needs whole numbers, e.g. `1/12`"));
        };
        if t == 0 || t > u32::from(MAX_SUBSET_GROUPS) {
            return Err(format!(
                "`{s}`: t must be from 1 to {MAX_SUBSET_GROUPS} (restic splits packs into at most {MAX_SUBSET_GROUPS} groups)"
            ));
        }
        if n == 0 || n > t {
            return Err(format!("`{s}`: n must be from 1 to {t}"));
        }
        return Ok(ReadData::Subset(format!("{n}/{t}")));
    }
    if let Some(p) = s.strip_suffix('%') {
        let p: f64 = p
            .parse()
            .map_err(|_| format!("`{s}`: a percentage needs a number, e.g. `10%`"))?;
        if !(p > 0.0 && p <= 100.0) {
            return Err(format!(
                "`{s}`: a percentage must be above 0 and at most 100"
            ));
        }
        return Ok(ReadData::Subset(s.to_owned()));
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    if !num.is_empty()
        && num.parse::<u64>().map(|n| n > 0).unwrap_or(false)
        && matches!(unit, "" | "K" | "M" | "G" | "T" | "k" | "m" | "g" | "t")
    {
        return Ok(ReadData::Subset(s.to_owned()));
    }
    Err(format!(
        "`{s}` is not a read-data subset; use `n/t` (e.g. `1/12`), `x%` (e.g. `5%`), a size (e.g. `500M`), `rotate/T` (e.g. `rotate/12`), `new` or `new+rotate/T`"
    ))
}

/// Arguments of `restic snapshots --json` with filters.
pub fn snapshots_args(filter: &SnapshotFilter) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["snapshots".into(), "--json".into()];
    push_filter(&mut a, filter);
    a
}

pub fn push_filter(a: &mut Vec<OsString>, filter: &SnapshotFilter) {
    for h in &filter.host {
        a.push("--host".into());
        a.push(h.into());
    }
    for t in &filter.tag {
        a.push("--tag".into());
        a.push(t.into());
    }
    for p in &filter.path {
        a.push("--path".into());
        a.push(p.into());
    }
}

/// What `restic check` is asked to read; `Rotate` is resolved to a group before this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRead {
    Structure,
    All,
    Subset(String),
}

impl CheckRead {
    /// The subset as the JSONL record reports it.
    pub fn describe(&self) -> Option<String> {
        match self {
            CheckRead::Structure => None,
            CheckRead::All => Some("all".to_owned()),
            CheckRead::Subset(s) => Some(s.clone()),
        }
    }

    pub fn from_read_data(r: &ReadData, rotation_group: Option<(u16, u16)>) -> CheckRead {
        match (r, rotation_group) {
            (ReadData::None, _) => CheckRead::Structure,
            (ReadData::Full, _) => CheckRead::All,
            (ReadData::Subset(s), _) => CheckRead::Subset(s.clone()),
            (ReadData::Rotate(_), Some((k, t))) => CheckRead::Subset(format!("{k}/{t}")),
            (ReadData::Rotate(t), None) => CheckRead::Subset(format!("1/{t}")),
            (ReadData::New { rotate: None, .. }, _) => CheckRead::Structure,
            (
                ReadData::New {
                    rotate: Some(_), ..
                },
                Some((k, t)),
            ) => CheckRead::Subset(format!("{k}/{t}")),
            (
                ReadData::New {
                    rotate: Some(t), ..
                },
                None,
            ) => CheckRead::Subset(format!("1/{t}")),
            // The check picks the group from the ledger; until then, read nothing.
            (ReadData::Budget(_), _) => CheckRead::Structure,
        }
    }
}

/// Arguments of `restic check`.
pub fn check_args(read: &CheckRead, version: Version) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["check".into()];
    match read {
        CheckRead::Structure => {}
        CheckRead::All => a.push("--read-data".into()),
        CheckRead::Subset(s) => a.push(format!("--read-data-subset={s}").into()),
    }
    if version.has_check_json() {
        a.push("--json".into());
    }
    a
}

/// How restic reaches a repository's backend, beyond its URL: restic's
/// `-o key=value` options (`sftp.command`, `s3.storage-class`, `rclone.program`)
/// and `--limit-download`. They go on restic's command line, where every user of
/// the host can read them (`ps`): they never hold a secret (`parse_option` refuses
/// what looks like one; credentials belong in `env-file`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendOptions {
    /// `(key, value)` pairs, in the order given; keys are unique.
    pub options: Vec<(String, String)>,
    /// KiB/s; `None` (or 0 in the profile): no limit.
    pub limit_download: Option<u64>,
}

/// Words in an option's key that name a credential.
const SECRET_KEY_WORDS: [&str; 6] = [
    "password",
    "passwd",
    "secret",
    "token",
    "key-id",
    "access-key",
];

/// Parses one restic `-o` option, `backend.name=value` (the key has a dot, as all of
/// restic's do), and refuses what looks like a secret: a key naming a credential,
/// a value carrying `user:password@` in a URL or a command-line flag naming one
/// (`--b2-account-key-id …`).
///
/// # Errors
/// A message saying what is wrong and what restic takes.
pub fn parse_option(s: &str) -> Result<(String, String), String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!(
            "`{s}` is not a restic option; write `backend.name=value`, e.g. `sftp.command=ssh -p 2222 nas -s sftp`"
        ));
    };
    let key = key.trim();
    let well_formed = key.contains('.')
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        });
    if !well_formed {
        return Err(format!(
            "`{key}` is not a restic option name; restic's are `backend.name` (e.g. `sftp.command`, `s3.storage-class`, `rclone.program`; `restic options` lists them)"
        ));
    }
    let lower = key.to_ascii_lowercase();
    let secret_flag = value.split_whitespace().any(|w| {
        let w = w.to_ascii_lowercase();
        w.starts_with('-') && SECRET_KEY_WORDS.iter().any(|m| w.contains(m))
    });
    if SECRET_KEY_WORDS.iter().any(|m| lower.contains(m))
        || secret_flag
        || crate::secret::redact_url(value) != value
    {
        return Err(format!(
            "`{key}` looks like it carries a secret, and restic's options go on its command line, which every user of the host can read; put credentials in `env-file` (e.g. AWS_SECRET_ACCESS_KEY=…) instead"
        ));
    }
    // The value is never quoted back: it holds the secret.
    if let Some(what) = crate::secret::option_value_secret(value) {
        return Err(format!(
            "`{key}` {what}; restic's options go on its command line (every user of the host can read it, and `validate` prints it), so it is refused"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Global options every repository call gets.
pub fn global_args(
    version: Version,
    cache_dir: &Path,
    lock_wait: Duration,
    takes_lock: bool,
    backend: &BackendOptions,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["--cache-dir".into(), cache_dir.into(), "--no-lock".into()];
    if takes_lock {
        a.pop();
        if version.has_retry_lock() && !lock_wait.is_zero() {
            a.push(format!("--retry-lock={}s", lock_wait.as_secs().max(1)).into());
        }
    }
    for (k, v) in &backend.options {
        a.push("-o".into());
        a.push(format!("{k}={v}").into());
    }
    if let Some(kib) = backend.limit_download.filter(|k| *k > 0) {
        a.push(format!("--limit-download={kib}").into());
    }
    a
}

/// Shows a command for logs and messages, short: program name and arguments, no
/// environment, no cache or target paths, and `--include` patterns counted rather
/// than listed (`restic restore 1a2b… --verify (40 includes)`).
pub fn display_command(args: &[OsString]) -> String {
    let mut shown: Vec<String> = Vec::new();
    let mut includes = 0usize;
    let mut iter = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = iter.next() {
        if a == "--include" {
            includes += 1;
            iter.next();
        } else if !a.starts_with("--cache-dir") && !a.starts_with('/') {
            shown.push(a.into_owned());
        }
    }
    let mut s = format!("restic {}", shown.join(" "));
    if includes > 0 {
        s.push_str(&format!(
            " ({includes} include{})",
            if includes == 1 { "" } else { "s" }
        ));
    }
    s
}

/// Escapes a tree path for restic's `--include`: `\ * ? [ ]` get a backslash
/// (unescaped, `a[b].txt` silently restores `ab.txt`).
pub fn escape_include(path: &str) -> String {
    let mut s = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// Whether `--include` can name this path at all: restic splits patterns on
/// newlines nowhere, but its matcher cannot match a newline, so such names go
/// through `restic dump`.
pub fn includable(path: &str) -> bool {
    !path.contains(['\n', '\r', '\u{FFFD}'])
}

/// Arguments of `restic restore`.
pub fn restore_args(snapshot_id: &str, target: &Path, includes: &[String]) -> Vec<OsString> {
    restore_args_with(snapshot_id, target, includes, true)
}

/// Arguments of `restic restore`, with restic's `--verify` or without it (a full
/// drill hashes every restored file itself; `--verify` would read them all again).
pub fn restore_args_with(
    snapshot_id: &str,
    target: &Path,
    includes: &[String],
    verify: bool,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "restore".into(),
        snapshot_id.into(),
        "--target".into(),
        target.into(),
    ];
    if verify {
        a.push("--verify".into());
    }
    for i in includes {
        a.push("--include".into());
        a.push(escape_include(i).into());
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("1/12", Ok(ReadData::Subset("1/12".into())))]
    #[case("12/12", Ok(ReadData::Subset("12/12".into())))]
    #[case("rotate/12", Ok(ReadData::Rotate(12)))]
    #[case("rotate/256", Ok(ReadData::Rotate(256)))]
    #[case("10%", Ok(ReadData::Subset("10%".into())))]
    #[case("2.5%", Ok(ReadData::Subset("2.5%".into())))]
    #[case("100M", Ok(ReadData::Subset("100M".into())))]
    #[case("new", Ok(ReadData::New { rotate: None, budget: None }))]
    #[case("new+rotate/12", Ok(ReadData::New { rotate: Some(12), budget: None }))]
    #[case("new+5%", Err("after `new+` comes `rotate/T`"))]
    #[case("new+rotate/0", Err("after `new+` comes `rotate/T`"))]
    #[case("0/5", Err("n must be from 1 to 5"))]
    #[case("6/5", Err("n must be from 1 to 5"))]
    #[case("1/300", Err("t must be from 1 to 256"))]
    #[case("rotate/300", Err("T must be from 1 to 256"))]
    #[case("rotate/0", Err("T must be from 1 to 256"))]
    #[case("0%", Err("above 0"))]
    #[case("101%", Err("at most 100"))]
    #[case("lots", Err("not a read-data subset"))]
    fn parse_read_data_subset_accepts_restic_forms_and_rejects_out_of_range(
        #[case] input: &str,
        #[case] want: Result<ReadData, &str>,
    ) {
        match (parse_read_data_subset(input), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[rstest]
    #[case(CheckRead::Structure, Version::new(0, 14, 0), &["check"])]
    #[case(CheckRead::All, Version::new(0, 14, 0), &["check", "--read-data"])]
    #[case(CheckRead::Subset("3/12".into()), Version::new(0, 14, 0), &["check", "--read-data-subset=3/12"])]
    #[case(CheckRead::Subset("5%".into()), Version::new(0, 18, 0), &["check", "--read-data-subset=5%", "--json"])]
    fn check_args_adapt_to_version(
        #[case] read: CheckRead,
        #[case] v: Version,
        #[case] want: &[&str],
    ) {
        let got: Vec<String> = check_args(&read, v)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn global_args_use_retry_lock_only_where_supported() {
        let cache = Path::new("/tmp/c");
        let show = |v, lw, lock| -> Vec<String> {
            global_args(v, cache, lw, lock, &BackendOptions::default())
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            show(Version::new(0, 14, 0), Duration::from_secs(60), true),
            ["--cache-dir", "/tmp/c"]
        );
        assert_eq!(
            show(Version::new(0, 16, 0), Duration::from_secs(60), true),
            ["--cache-dir", "/tmp/c", "--retry-lock=60s"]
        );
        assert_eq!(
            show(Version::new(0, 18, 0), Duration::ZERO, true),
            ["--cache-dir", "/tmp/c"]
        );
        assert_eq!(
            show(Version::new(0, 18, 0), Duration::from_secs(60), false),
            ["--cache-dir", "/tmp/c", "--no-lock"]
        );
    }

    #[test]
    fn global_args_pass_each_option_and_the_download_limit() {
        let backend = BackendOptions {
            options: vec![
                (
                    "sftp.command".into(),
                    "ssh -p 2222 -i /k nas -s sftp".into(),
                ),
                ("s3.storage-class".into(), "STANDARD_IA".into()),
            ],
            limit_download: Some(2048),
        };
        let got: Vec<String> = global_args(
            Version::new(0, 14, 0),
            Path::new("/tmp/c"),
            Duration::ZERO,
            false,
            &backend,
        )
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
        assert_eq!(
            got,
            [
                "--cache-dir",
                "/tmp/c",
                "--no-lock",
                "-o",
                "sftp.command=ssh -p 2222 -i /k nas -s sftp",
                "-o",
                "s3.storage-class=STANDARD_IA",
                "--limit-download=2048"
            ]
        );
        let unlimited = BackendOptions {
            limit_download: Some(0),
            ..BackendOptions::default()
        };
        let got = global_args(
            Version::new(0, 18, 0),
            Path::new("/tmp/c"),
            Duration::ZERO,
            true,
            &unlimited,
        );
        assert_eq!(got.len(), 2, "0 KiB/s means no limit: {got:?}");
    }

    #[rstest]
    #[case("sftp.command=ssh -p 2222 -i /k -s sftp", Ok(("sftp.command", "ssh -p 2222 -i /k -s sftp")))]
    #[case("s3.storage-class=STANDARD_IA", Ok(("s3.storage-class", "STANDARD_IA")))]
    #[case("rclone.program=/usr/local/bin/rclone", Ok(("rclone.program", "/usr/local/bin/rclone")))]
    #[case("rclone.args=serve restic --stdio --b2-hard-delete", Ok(("rclone.args", "serve restic --stdio --b2-hard-delete")))]
    #[case("s3.connections=a=b", Ok(("s3.connections", "a=b")))]
    #[case("sftp.command", Err("write `backend.name=value`"))]
    #[case("command=ssh", Err("not a restic option name"))]
    #[case("sftp..command=ssh", Err("not a restic option name"))]
    #[case("sftp.com mand=ssh", Err("not a restic option name"))]
    #[case("=x", Err("not a restic option name"))]
    #[case("s3.secret-key=abc", Err("put credentials in `env-file`"))]
    #[case("b2.account-key-id=abc", Err("put credentials in `env-file`"))]
    #[case("swift.Password=abc", Err("put credentials in `env-file`"))]
    #[case("azure.access-key=abc", Err("put credentials in `env-file`"))]
    #[case("rest.token=abc", Err("put credentials in `env-file`"))]
    #[case(
        "rclone.args=serve restic --stdio --b2-account-key-id 0012",
        Err("put credentials in `env-file`")
    )]
    #[case(
        "rclone.args=serve restic --stdio --webdav-password=x",
        Err("put credentials in `env-file`")
    )]
    #[case(
        "rclone.program=rclone --config https://u:hunter2@h/c",
        Err("put credentials in `env-file`")
    )]
    fn parse_option_takes_dotted_keys_and_refuses_secrets(
        #[case] input: &str,
        #[case] want: Result<(&str, &str), &str>,
    ) {
        match (parse_option(input), want) {
            (Ok((k, v)), Ok((wk, wv))) => assert_eq!((k.as_str(), v.as_str()), (wk, wv)),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parse_option_refusal_never_repeats_the_value() {
        let e = parse_option("s3.secret-key=hunter2").expect_err("refused");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[rstest]
    #[case("/src/a[b].txt", "/src/a\\[b\\].txt")]
    #[case("/src/star*.txt", "/src/star\\*.txt")]
    #[case("/src/q?.txt", "/src/q\\?.txt")]
    #[case("/src/back\\slash.txt", "/src/back\\\\slash.txt")]
    #[case("/src/dollar$HOME and spaces.txt", "/src/dollar$HOME and spaces.txt")]
    fn escape_include_escapes_glob_characters(#[case] path: &str, #[case] want: &str) {
        assert_eq!(escape_include(path), want);
    }

    #[test]
    fn snapshots_args_pass_filters_as_separate_arguments() {
        let f = SnapshotFilter {
            host: vec!["h".into()],
            tag: vec!["a,b".into()],
            path: vec!["/srv".into()],
        };
        let got: Vec<String> = snapshots_args(&f)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            [
                "snapshots",
                "--json",
                "--host",
                "h",
                "--tag",
                "a,b",
                "--path",
                "/srv"
            ]
        );
    }

    #[test]
    fn display_command_counts_includes_instead_of_listing_them() {
        let includes: Vec<String> = (0..40).map(|i| format!("/src/f{i}")).collect();
        let args = restore_args("0123abcd", Path::new("/tmp/x"), &includes);
        assert_eq!(
            display_command(&args),
            "restic restore 0123abcd --target --verify (40 includes)"
        );
        let one = restore_args("0123abcd", Path::new("/tmp/x"), &includes[..1]);
        assert!(display_command(&one).ends_with("(1 include)"));
    }
}
