//! Every message of the `[notify.NAME]` validation, with its line and column, and
//! what a valid table becomes (type, target, states, timeout, secret files; no
//! secret in `Debug`, raw or checked).

use std::path::Path;

use rstest::rstest;

use super::super::{parse, Env, Error};

fn env() -> Env {
    Env {
        credentials_directory: None,
        host: "testhost".into(),
        now: chrono::TimeZone::with_ymd_and_hms(&chrono::Local, 2026, 1, 1, 0, 0, 0)
            .single()
            .expect("a fixed time"),
    }
}

/// A valid profile whose job notifies `n`, then `table` (from line 9).
fn profile(table: &str) -> String {
    format!("[repository.nas]\nurl = \"/srv/r\"\npassword-file = \"/run/pw\"\n\n[job.weekly]\nkind = \"check\"\nrepositories = [\"nas\"]\nnotify = [\"n\"]\n{table}")
}

fn problems(table: &str) -> Vec<String> {
    match parse(&profile(table), Path::new("/etc/rv.toml"), &env()) {
        Ok(_) => Vec::new(),
        Err(Error::Invalid { problems, .. }) => problems.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[rstest]
#[case::no_type("[notify.n]\nurl = \"https://ntfy.sh/t\"\n", &["/etc/rv.toml:9:1: [notify.n] has no `type`; use one of email, healthchecks, ntfy, uptime-kuma, pushgateway"])]
#[case::unknown_type("[notify.n]\ntype = \"ntfi\"\nurl = \"https://ntfy.sh/t\"\n", &["/etc/rv.toml:10:8: [notify.n] `type = \"ntfi\"` is not a notifier type; did you mean `ntfy`? (types: email, healthchecks, ntfy, uptime-kuma, pushgateway)"])]
#[case::type_not_a_string("[notify.n]\ntype = 3\n", &["/etc/rv.toml:10:8: [notify.n] `type`: invalid type: integer `3`, expected a string"])]
#[case::bad_name("[notify.\"a b\"]\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\n[notify.n]\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\n", &["/etc/rv.toml:9:1: notifier name `a b` may only contain letters, digits, `.`, `_` and `-`"])]
#[case::key_of_another_type("[notify.n]\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\nsmtp-host = \"mail\"\n", &["/etc/rv.toml:12:1: [notify.n] (type ntfy) does not use `smtp-host`"])]
#[case::misspelt_key("[notify.n]\ntype = \"ntfy\"\nurll = \"https://ntfy.sh/t\"\n", &["/etc/rv.toml:9:1: [notify.n] needs `url` or `url-file`: server and topic, e.g. url = \"https://ntfy.sh/my-backups\"", "/etc/rv.toml:11:1: unknown key `urll`; did you mean `url`? (valid keys here: states, timeout, url, url-file, token-file)"])]
#[case::mistyped_value("[notify.n]\ntype = \"email\"\nsmtp-host = \"mail\"\nsmtp-port = \"x\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\n", &["/etc/rv.toml:12:13: [notify.n] `smtp-port`: invalid type: string \"x\", expected u16"])]
#[case::timeout_zero("[notify.n]\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\ntimeout = \"0s\"\n", &["/etc/rv.toml:12:11: [notify.n] `timeout` must be above zero"])]
#[case::timeout_bad("[notify.n]\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\ntimeout = \"soon\"\n", &["/etc/rv.toml:12:11: `timeout`: `soon` is not a duration (expected number at 0); write e.g. `90s`, `30m`, `48h`, `7d`"])]
#[case::states_unknown("[notify.n]\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/t\"\nstates = [\"failure\", \"fail\"]\n", &["/etc/rv.toml:12:10: [notify.n] `states` has `fail`; use start, success, failure, recovery"])]
#[case::start_without_start("[notify.n]\ntype = \"uptime-kuma\"\nurl = \"https://kuma/api/push/t\"\nstates = [\"start\"]\n", &["/etc/rv.toml:12:10: [notify.n] a uptime-kuma notifier has nothing to send at `start`; use success, failure, recovery"])]
#[case::url_and_url_file("[notify.n]\ntype = \"healthchecks\"\nurl = \"https://hc-ping.com/u\"\nurl-file = \"/run/hc\"\n", &["/etc/rv.toml:11:7: [notify.n] sets both `url` and `url-file`; keep one"])]
#[case::url_not_http("[notify.n]\ntype = \"ntfy\"\nurl = \"ftp://secret-topic\"\n", &["/etc/rv.toml:11:7: [notify.n] `url` is not an http(s) URL (value not shown; it may hold a token)"])]
#[case::uuid_only_for_healthchecks("[notify.n]\ntype = \"ntfy\"\nurl = \"5f0b8a55-2c1e-4e7b-9d3f-0a1b2c3d4e5f\"\n", &["/etc/rv.toml:11:7: [notify.n] `url` is not an http(s) URL (value not shown; it may hold a token)"])]
#[case::healthchecks_needs_url("[notify.n]\ntype = \"healthchecks\"\n", &["/etc/rv.toml:9:1: [notify.n] needs `url` or `url-file`: the check's ping URL, e.g. url-file = \"/etc/restic-verify/hc-url\" holding https://hc-ping.com/<uuid>"])]
#[case::ntfy_needs_url("[notify.n]\ntype = \"ntfy\"\n", &["/etc/rv.toml:9:1: [notify.n] needs `url` or `url-file`: server and topic, e.g. url = \"https://ntfy.sh/my-backups\""])]
#[case::kuma_needs_url("[notify.n]\ntype = \"uptime-kuma\"\n", &["/etc/rv.toml:9:1: [notify.n] needs `url` or `url-file`: the push URL, e.g. url-file holding https://kuma.example/api/push/<token>"])]
#[case::pushgateway_needs_url("[notify.n]\ntype = \"pushgateway\"\n", &["/etc/rv.toml:9:1: [notify.n] needs `url` or `url-file`: the base URL, e.g. url = \"http://pushgateway:9091\""])]
#[case::pushgateway_url_file("[notify.n]\ntype = \"pushgateway\"\nurl-file = \"/run/pg\"\n", &["/etc/rv.toml:9:1: [notify.n] needs `url` or `url-file`: the base URL, e.g. url = \"http://pushgateway:9091\"", "/etc/rv.toml:11:1: [notify.n] (type pushgateway) does not use `url-file`"])]
#[case::pushgateway_bad_url_and_instance("[notify.n]\ntype = \"pushgateway\"\nurl = \"pg:9091\"\n", &["/etc/rv.toml:11:7: [notify.n] `url` is not an http(s) URL, e.g. url = \"http://pushgateway:9091\""])]
#[case::pushgateway_instance("[notify.n]\ntype = \"pushgateway\"\nurl = \"http://pg:9091\"\ninstance = \"a/b\"\n", &["/etc/rv.toml:12:12: [notify.n] `instance` must be non-empty and without `/`"])]
#[case::email_empty("[notify.n]\ntype = \"email\"\n", &["/etc/rv.toml:9:1: [notify.n] needs `smtp-host`, e.g. smtp-host = \"mail.example.org\"", "/etc/rv.toml:9:1: [notify.n] needs `from`, e.g. from = \"restic-verify <backup@example.org>\"", "/etc/rv.toml:9:1: [notify.n] needs `to`, e.g. to = [\"admin@example.org\"]"])]
#[case::email_bad_values("[notify.n]\ntype = \"email\"\nsmtp-host = \"mail\"\ntls = \"ssl\"\nfrom = \"nobody\"\nto = [\"ok@example.org\", \"bad\"]\nusername = \"u\"\n", &["/etc/rv.toml:9:1: [notify.n] `to` has `bad`, which is not an email address", "/etc/rv.toml:9:1: [notify.n] `username` and `password-file` go together; set both or neither", "/etc/rv.toml:12:7: [notify.n] `tls = \"ssl\"`: use \"starttls\" (port 587), \"tls\" (port 465) or \"none\" (local relay, port 25)", "/etc/rv.toml:13:8: [notify.n] `from = \"nobody\"` is not an email address"])]
#[case::email_password_in_clear("[notify.n]\ntype = \"email\"\nsmtp-host = \"mail.example.org\"\ntls = \"none\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\nusername = \"u\"\npassword-file = \"/run/p\"\n", &["/etc/rv.toml:9:1: [notify.n] would send the SMTP password unencrypted to mail.example.org; use tls = \"starttls\" or \"tls\""])]
#[case::email_url("[notify.n]\ntype = \"email\"\nsmtp-host = \"localhost\"\ntls = \"none\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\nusername = \"u\"\npassword-file = \"/run/p\"\nurl = \"https://x\"\n", &["/etc/rv.toml:17:1: [notify.n] (type email) does not use `url`"])]
fn notifier_problems_are_located_and_worded(#[case] table: &str, #[case] want: &[&str]) {
    let got = problems(table);
    assert_eq!(got, want, "{table}");
}

#[test]
fn valid_tables_become_notifiers_with_their_defaults() {
    let text = profile(concat!(
        "[notify.n]\ntype = \"email\"\nsmtp-host = \"mail.example.org\"\ntls = \"tls\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\nusername = \"u\"\npassword-file = \"pw\"\n",
        "[notify.hc]\ntype = \"healthchecks\"\nurl-file = \"$CREDENTIALS_DIRECTORY/hc\"\ntimeout = \"3s\"\n",
        "[notify.phone]\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/topic-s3cret\"\ntoken-file = \"/run/tok\"\nstates = [\"start\", \"recovery\"]\n",
        "[notify.kuma]\ntype = \"uptime-kuma\"\nurl = \"https://kuma.example/api/push/t0ken\"\n",
        "[notify.pg]\ntype = \"pushgateway\"\nurl = \"http://pg:9091\"\n",
    ));
    let env = Env {
        credentials_directory: Some("/run/credentials/rv".into()),
        ..env()
    };
    let p = parse(&text, Path::new("/etc/rv/rv.toml"), &env).expect("valid");
    let shown: Vec<String> = p
        .notifiers
        .values()
        .map(|n| {
            let states: Vec<&str> = n.states.iter().map(|s| s.as_str()).collect();
            let files: Vec<String> = n
                .kind
                .files()
                .iter()
                .map(|(k, f)| format!("{k}={}", f.display()))
                .collect();
            format!(
                "{} {} -> {} {states:?} {:?} {files:?}",
                n.name,
                n.kind.type_name(),
                n.kind.describe(),
                n.timeout
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            "hc healthchecks -> URL from /run/credentials/rv/hc [\"start\", \"success\", \"failure\"] 3s [\"url-file=/run/credentials/rv/hc\"]",
            "kuma uptime-kuma -> https://kuma.example/... [\"success\", \"failure\"] 10s []",
            "n email -> smtp://mail.example.org:465 to d@e.f [\"failure\", \"recovery\"] 10s [\"password-file=/etc/rv/pw\"]",
            "pg pushgateway -> http://pg:9091/... (instance testhost) [\"success\", \"failure\"] 10s []",
            "phone ntfy -> https://ntfy.sh/... [\"start\", \"recovery\"] 10s [\"token-file=/run/tok\"]",
        ]
    );
    let debug = format!("{:?}", p.notifiers);
    assert!(
        !debug.contains("s3cret") && !debug.contains("t0ken"),
        "{debug}"
    );
    let raw = format!("{:?}", super::super::raw::read(&text).expect("toml").raw);
    assert!(
        raw.contains("NtfySettings") && raw.contains("url: Some(\"[redacted]\")"),
        "{raw}"
    );
    assert!(!raw.contains("s3cret") && !raw.contains("t0ken"), "{raw}");
}
