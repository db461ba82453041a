//! `validate` on broken profiles (issue #24): every problem in one run, in file
//! order, each with file:line:column; keys that do nothing for a job's kind; cron
//! fields out of range quoted as written; a missing password file as a
//! configuration error. The real binary; no repository is touched.

use rstest::rstest;

use crate::util::TestEnv;

/// `validate --config <profile>` with `body` written next to a real password file
/// (`pw`), outside any systemd unit.
fn validate(env: &TestEnv, body: &str) -> (Option<i32>, String, std::path::PathBuf) {
    env.password_file("pw", "secret\n");
    let p = env.path("config.toml");
    std::fs::write(&p, body).expect("write profile");
    let out = env
        .cmd()
        .env_remove("CREDENTIALS_DIRECTORY")
        .arg("validate")
        .arg("--config")
        .arg(&p)
        .output()
        .expect("run");
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.code(), err, p)
}

// Five different mistakes, spread over the file.
const FIVE_MISTAKES: &str = r#"[defaults]
password-file = "pw"

[repository.nas]
url = "/srv/restic"
lock-wiat = "5m"

[job.weekly]
kind = "check"
repositories = ["nas"]
max-age = "two days"
sample = 50

[job.monthly]
kind = "restore-test"
repositories = ["nas"]
schedule = "0 25 * * 0"
notify = ["ops"]

[notify.ops]
type = "ntfy"
url = "https://ntfy.example/alerts"
states = "failure"
"#;

#[test]
fn validate_five_mistakes_are_all_reported_in_file_order_with_line_and_column() {
    let env = TestEnv::new();
    let (code, err, p) = validate(&env, FIVE_MISTAKES);
    assert_eq!(code, Some(2), "{err}");
    let f = p.display().to_string();
    let expected = [
        format!("{f}:6:1: unknown key `lock-wiat`; did you mean `lock-wait`?"),
        format!("{f}:11:11: `max-age`: `two days` is not a duration"),
        format!("{f}:12:1: [job.weekly] `sample` does nothing for a job of kind \"check\""),
        format!("{f}:17:12: [job.monthly] `schedule`: hour `25` is out of range 0–23 in schedule `0 25 * * 0`"),
        format!("{f}:23:10: [notify.ops] `states`: invalid type: string \"failure\", expected a sequence"),
    ];
    let mut at = 0;
    for e in &expected {
        let found = err[at..].find(e.as_str());
        assert!(found.is_some(), "missing or out of order: {e}\n{err}");
        at += found.unwrap_or_default() + e.len();
    }
    let reported = err
        .lines()
        .filter(|l| l.starts_with(&format!("  {f}:")))
        .count();
    assert_eq!(reported, 5, "exactly the five mistakes: {err}");
}

/// A profile with one job of `kind` that sets `job_key`, and `defaults_key` in
/// `[defaults]`.
fn one_job(kind: &str, job_key: &str, defaults_key: &str) -> String {
    format!(
        "[defaults]\npassword-file = \"pw\"\n{defaults_key}\n\n[repository.nas]\nurl = \"/srv/restic\"\n\n[job.j]\nkind = \"{kind}\"\nrepositories = [\"nas\"]\n{job_key}\n"
    )
}

#[rstest]
#[case("check", "sample = 50", "restore-test")]
#[case("check", "map = [\"/a=/b\"]", "restore-test\" and \"audit")]
#[case("restore-test", "read-data-subset = \"1/4\"", "check")]
#[case("restore-test", "max-listed = 10", "audit")]
#[case("audit", "seed = 7", "restore-test")]
#[case("audit", "sample = 5", "restore-test")]
fn validate_job_key_that_does_nothing_for_its_kind_is_an_error_but_allowed_in_defaults(
    #[case] kind: &str,
    #[case] key: &str,
    #[case] acts_on: &str,
) {
    let env = TestEnv::new();
    let (code, err, p) = validate(&env, &one_job(kind, key, ""));
    assert_eq!(code, Some(2), "{err}");
    let name = key.split(' ').next().unwrap_or_default();
    let want = format!(
        "{}:11:1: [job.j] `{name}` does nothing for a job of kind \"{kind}\"; it acts only on \"{acts_on}\" jobs",
        p.display()
    );
    assert!(err.contains(&want), "want {want}\n{err}");
    // `[defaults]` serves every kind: the same key there is fine.
    let (code, err, _) = validate(&env, &one_job(kind, "", key));
    assert_eq!(code, Some(0), "{err}");
}

#[rstest]
#[case("61 3 * * *", "minute `61` is out of range 0–59")]
#[case("0 24 * * *", "hour `24` is out of range 0–23")]
#[case("0 3 32 * *", "day of month `32` is out of range 1–31")]
#[case("0 3 0 * *", "day of month `0` is out of range 1–31")]
#[case("0 3 * 13 *", "month `13` is out of range 1–12")]
#[case("0 3 * * 8", "day of week `8` is out of range 0–7")]
#[case(
    "0 3 * *",
    "cron expression `0 3 * *` has 4 fields, not 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)"
)]
fn validate_cron_field_out_of_range_quotes_the_field_and_its_range(
    #[case] expr: &str,
    #[case] want: &str,
) {
    let env = TestEnv::new();
    let (code, err, p) = validate(
        &env,
        &one_job("check", &format!("schedule = \"{expr}\""), ""),
    );
    assert_eq!(code, Some(2), "{err}");
    let line = format!("{}:11:12: [job.j] `schedule`: {want}", p.display());
    assert!(err.contains(&line), "want {line}\n{err}");
    if !want.contains("fields") {
        assert!(err.contains(&format!("in schedule `{expr}`")), "{err}");
    }
    assert!(
        !err.contains(" Sun\n"),
        "the crate's internal form leaked: {err}"
    );
}

#[test]
fn validate_missing_password_file_is_a_config_error_at_its_line() {
    let env = TestEnv::new();
    let body = one_job("check", "", "").replace("\"pw\"", "\"nope\"");
    let (code, err, p) = validate(&env, &body);
    assert_eq!(code, Some(2), "{err}");
    let want = format!(
        "{}:2:17: [repository.nas] `password-file`: {} does not exist",
        p.display(),
        env.path("nope").display()
    );
    assert!(err.contains(&want), "want {want}\n{err}");
}

#[test]
fn validate_systemd_credential_password_file_is_not_checked_outside_its_unit() {
    let env = TestEnv::new();
    let body = one_job("check", "", "").replace("\"pw\"", "\"$CREDENTIALS_DIRECTORY/restic-pw\"");
    // Outside the unit the variable is unset: only the unit sees the file.
    let (code, err, _) = validate(&env, &body);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("is a systemd credential"), "{err}");
    // Inside the unit (the variable set) a missing credential is an error.
    let creds = env.path("creds");
    std::fs::create_dir(&creds).expect("mkdir");
    let p = env.path("config.toml");
    let out = env
        .cmd()
        .env("CREDENTIALS_DIRECTORY", &creds)
        .arg("validate")
        .arg("--config")
        .arg(&p)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "`password-file`: {} does not exist",
            creds.join("restic-pw").display()
        )),
        "{err}"
    );
}
