//! `restic-verify validate`: loads and validates a profile and prints the plan:
//! which jobs, which repositories, which restic commands, secrets redacted. It spawns
//! nothing and touches no repository. With a shard (`--shard k/n` or `[defaults]
//! shard`) the plan is that shard's, followed by the repositories of every shard.

use std::fmt::Write as _;
use std::path::Path;

use crate::check::CheckOptions;
use crate::cli::ValidateArgs;
use crate::config::{self, shard, JobKind, Profile, Shard};
use crate::credentials::PasswordSource;
use crate::error::Error;
use crate::notify;
use crate::record::Report;
use crate::restic::args::{check_args, display_command, snapshots_args};
use crate::restic::{CheckRead, ReadData, Version};
use crate::restore_test::RestoreOptions;
use crate::schedule;

/// Validates and prints the plan on stdout.
///
/// # Errors
/// The profile is invalid (exit 2), with every problem listed.
pub async fn run(args: ValidateArgs) -> Result<Report, Error> {
    let full = match config::load(&args.config) {
        Ok(p) => p,
        Err(e) => {
            if args.json {
                print_json(&problems_json(&args.config, &e));
            }
            return Err(e.into());
        }
    };
    let shard = args.shard.or(full.shard);
    let profile = full.for_shard(shard);
    let now = chrono::Local::now();
    if !args.json {
        if let Some(s) = shard {
            println!(
                "shard {s}: this host takes {} of {} repositories and {} of {} jobs; the plan below is its part",
                profile.repositories.len(),
                full.repositories.len(),
                profile.jobs.len(),
                full.jobs.len()
            );
        }
        print!("{}", plan(&profile, &now));
        if let Some(s) = shard {
            print!("{}", shards_text(&full, s));
        }
    }
    let mut problems = notifier_files(&profile);
    if args.check_notifiers && problems.is_empty() {
        problems.extend(probe_notifiers(&profile, !args.json).await);
    }
    let mut problems: Vec<config::Problem> = problems
        .into_iter()
        .map(|message| config::Problem {
            location: None,
            path: args.config.clone(),
            message,
        })
        .collect();
    problems.extend(password_files(&profile, &args.config));
    if problems.is_empty() {
        if args.json {
            let mut plan = plan_json(&profile, &now);
            plan["shard"] = shard.map_or(serde_json::Value::Null, |s| shards_json(&full, s));
            print_json(&plan);
        }
        return Ok(Report::default());
    }
    problems.sort_by_key(|p| p.location.unwrap_or((usize::MAX, usize::MAX)));
    let err = config::Error::Invalid {
        path: args.config.clone(),
        problems,
    };
    if args.json {
        print_json(&problems_json(&args.config, &err));
    }
    Err(err.into())
}

fn print_json(v: &serde_json::Value) {
    let mut s = serde_json::to_string(v).unwrap_or_else(|_| "{}".to_owned());
    s.push('\n');
    super::print_stdout(s.as_bytes());
}

/// `validate --json` of a profile that is not valid: every problem, located.
fn problems_json(path: &Path, e: &config::Error) -> serde_json::Value {
    let problems: Vec<serde_json::Value> = match e {
        config::Error::Invalid { problems, .. } => problems
            .iter()
            .map(|p| {
                serde_json::json!({
                    "file": p.path.display().to_string(),
                    "line": p.location.map(|l| l.0),
                    "column": p.location.map(|l| l.1),
                    "message": p.message,
                })
            })
            .collect(),
        other => vec![serde_json::json!({
            "file": path.display().to_string(),
            "line": null,
            "column": null,
            "message": other.to_string(),
        })],
    };
    serde_json::json!({
        "profile": path.display().to_string(),
        "valid": false,
        "problems": problems,
    })
}

/// `validate --json` of a valid profile: the checked plan, credentials redacted
/// (the URL as `display_url` shows it; password and env files by path only).
pub fn plan_json<Tz: chrono::TimeZone>(p: &Profile, now: &chrono::DateTime<Tz>) -> serde_json::Value
where
    Tz::Offset: std::fmt::Display,
{
    use serde_json::json;
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let repositories: Vec<_> = p
        .repositories
        .values()
        .map(|r| {
            let password = match &r.password {
                PasswordSource::File(f) => json!({"file": f.display().to_string()}),
                PasswordSource::Command(c) => json!({"command": c.to_string()}),
                PasswordSource::EnvFile => json!({"env_file": true}),
            };
            json!({
                "name": r.name,
                "url": r.display_url(),
                "password": password,
                "env_file": r.env_file.as_ref().map(|e| e.display().to_string()),
                "restic": r.restic.display().to_string(),
                "lock_wait_seconds": r.lock_wait.as_secs_f64(),
                "unlock_stale": r.unlock_stale,
                "retries": r.retries,
                "options": r.backend.options.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                "limit_download_kib": r.backend.limit_download,
            })
        })
        .collect();
    let jobs: Vec<_> = p
        .jobs
        .iter()
        .map(|j| {
            let mut steps = String::new();
            match &j.kind {
                JobKind::Check(o) => plan_check(&mut steps, o, j.timeout),
                JobKind::RestoreTest(o) => plan_restore(&mut steps, o, j.timeout),
                JobKind::Audit(_) => {}
            }
            json!({
                "name": j.name,
                "kind": j.kind.name(),
                "repositories": j.repositories,
                "plan": steps.lines().map(str::trim).collect::<Vec<_>>(),
                "timeout_seconds": j.timeout.as_secs_f64(),
                "schedule": j.schedule.as_ref().map(ToString::to_string),
                "jitter_seconds": j.jitter.as_secs_f64(),
                "next_fire_times": j.schedule.as_ref().map(|s| {
                    schedule::upcoming(s, now, 5)
                        .iter()
                        .map(|t| t.to_rfc3339())
                        .collect::<Vec<_>>()
                }).unwrap_or_default(),
                "notify": j.notify,
                "results": path(&j.outputs.results),
                "metrics": path(&j.outputs.metrics),
                "state_dir": path(&j.outputs.state_dir),
            })
        })
        .collect();
    let notifiers: Vec<_> = p
        .notifiers
        .values()
        .map(|n| {
            json!({
                "name": n.name,
                "type": n.kind.type_name(),
                "target": n.kind.describe(),
                "states": n.states.iter().map(|st| st.as_str()).collect::<Vec<_>>(),
                "timeout_seconds": n.timeout.as_secs_f64(),
            })
        })
        .collect();
    json!({
        "profile": p.source.as_ref().map(|s| s.display().to_string()),
        "valid": true,
        "repositories": repositories,
        "jobs": jobs,
        "notifiers": notifiers,
        "max_concurrent": p.max_concurrent,
        "warnings": notes(p),
    })
}

/// Every shard's repositories (of the whole profile), this host's marked.
fn shards_text(full: &Profile, this: Shard) -> String {
    let mut s = format!(
        "\nshards: {} repositories in {} shards (by the SHA-256 of each name; see `shard` in restic-verify.toml(5)); this host takes {this}\n",
        full.repositories.len(),
        this.n
    );
    let names = full.repositories.keys().map(String::as_str);
    for (i, names) in shard::split(names, this.n).iter().enumerate() {
        let k = i + 1;
        let list = if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(", ")
        };
        let mark = if k == this.k as usize {
            "  <- this host"
        } else {
            ""
        };
        let _ = writeln!(s, "  {k}/{}: {list}{mark}", this.n);
    }
    s
}

/// `validate --json`'s `shard`: this host's `k`, `n`, and every shard's
/// repositories (`shards[i]` is shard `i + 1`).
fn shards_json(full: &Profile, this: Shard) -> serde_json::Value {
    let names = full.repositories.keys().map(String::as_str);
    let shards: Vec<serde_json::Value> = shard::split(names, this.n)
        .iter()
        .enumerate()
        .map(|(i, names)| serde_json::json!({"k": i + 1, "repositories": names}))
        .collect();
    serde_json::json!({"k": this.k, "n": this.n, "shards": shards})
}

/// Whether a path names a systemd credential that only the unit can see: its
/// `$CREDENTIALS_DIRECTORY` stayed unexpanded because the variable is unset here.
fn is_unit_credential(f: &Path) -> bool {
    let s = f.to_string_lossy();
    s.contains("$CREDENTIALS_DIRECTORY") || s.contains("${CREDENTIALS_DIRECTORY}")
}

/// Password files that do not exist: a configuration error, as at run time (where
/// the run is recorded with category `config`). A systemd credential path is not
/// checked outside its unit (the plan notes it instead).
fn password_files(p: &Profile, path: &Path) -> Vec<config::Problem> {
    let mut out = Vec::new();
    for r in p.repositories.values() {
        let PasswordSource::File(f) = &r.password else {
            continue;
        };
        if is_unit_credential(f) {
            continue;
        }
        if std::fs::metadata(f).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            out.push(config::Problem {
                location: r.password_at,
                path: path.to_owned(),
                message: format!(
                    "[repository.{}] `password-file`: {} does not exist; create it (mode 0600) or point `password-file` at the right file",
                    r.name,
                    f.display()
                ),
            });
        }
    }
    out
}

/// Secret files of notifiers that cannot be read here. A path under an unset
/// `$CREDENTIALS_DIRECTORY` is only known to the service, so it is not checked.
fn notifier_files(p: &Profile) -> Vec<String> {
    p.notifiers
        .values()
        .flat_map(notify::Notifier::unreadable_files)
        .collect()
}

/// Reaches every notifier without sending, printing the reachable ones.
async fn probe_notifiers(p: &Profile, print: bool) -> Vec<String> {
    let mut out = Vec::new();
    for n in p.notifiers.values() {
        match notify::probe(n).await {
            Ok(()) if print => println!("notifier {}: reachable", n.name),
            Ok(()) => tracing::info!("notifier {}: reachable", n.name),
            Err(e) => out.push(format!("[notify.{}] cannot be reached: {e}", n.name)),
        }
    }
    out
}

fn plan_check(s: &mut String, o: &CheckOptions, timeout: std::time::Duration) {
    let snaps = snapshots_args(&o.filter);
    let _ = writeln!(s, "  {}", display_command(&snaps));
    let read = CheckRead::from_read_data(&o.read_data, None);
    let mut check = display_command(&check_args(&read, Version::new(0, 14, 0)));
    if let ReadData::Rotate(t) = o.read_data {
        check = format!("restic check --read-data-subset=k/{t}  (k = 1..{t}, one group per run; full coverage every {t} runs)");
    }
    let _ = writeln!(s, "  {check}");
    let max_age = o.max_age.map_or_else(
        || "not checked".to_owned(),
        |d| humantime::format_duration(d).to_string(),
    );
    let _ = writeln!(
        s,
        "  max-age {max_age}; min-snapshots {}; timeout {}",
        o.min_snapshots,
        humantime::format_duration(timeout)
    );
}

fn plan_restore(s: &mut String, o: &RestoreOptions, timeout: std::time::Duration) {
    let snap = o
        .snapshot
        .as_deref()
        .unwrap_or("the newest matching snapshot");
    if o.is_full() {
        let _ = writeln!(s, "  pin {snap}; restic ls --json <id>; restic restore <id> --target <private dir> (full drill: the whole snapshot, or the include/exclude subset, in one call; every file compared; free space checked first)");
    } else {
        let _ = writeln!(s, "  pin {snap}; restic ls --json <id>; restic restore <id> --target <private dir> --verify --include <sampled files> (calls planned by cost; subtrees restored whole where the sample is dense)");
    }
    let size = |b: Option<u64>| b.map_or_else(|| "none".to_owned(), |b| format!("{b} bytes"));
    let how = match o.sample.percent {
        Some(p) => format!("{p}% of files"),
        None => format!("{} files", o.sample.count),
    };
    let _ = writeln!(
        s,
        "  sample {how} by {} (max-bytes {}), always {}; seed {}; compare with {}{}",
        match o.sample.weighting {
            crate::sample::Weighting::Count => "count",
            crate::sample::Weighting::Bytes => "bytes",
        },
        size(o.sample.max_bytes),
        o.sample.always.len(),
        o.seed
            .map_or_else(|| "random".to_owned(), |x| x.to_string()),
        match &o.source {
            crate::source::SourceKind::Live => "the live source".to_owned(),
            crate::source::SourceKind::Zfs { dataset, snapshot } =>
                format!("ZFS dataset {dataset}, snapshot {snapshot:?}"),
        },
        if o.map.is_empty() {
            String::new()
        } else {
            format!(
                " (map {})",
                o.map
                    .iter()
                    .map(|(f, t)| format!("{f}={}", t.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let floor = o.min_verified.map_or_else(
        || "half the files drawn, at least 1".to_owned(),
        |n| format!("{n} file(s)"),
    );
    let _ = writeln!(
        s,
        "  passes only with at least {floor} restored and compared (min-verified); fewer is an error (not_verified)"
    );
    let _ = writeln!(
        s,
        "  test-dir {}; keep {}; timeout {}",
        o.test_dir.display(),
        o.keep,
        humantime::format_duration(timeout)
    );
}

/// The human-readable plan of a profile, with fire times after `now`.
pub fn plan<Tz: chrono::TimeZone>(p: &Profile, now: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let mut s = String::new();
    let src = p
        .source
        .as_ref()
        .map_or_else(|| "flags".to_owned(), |p| p.display().to_string());
    let _ = writeln!(
        s,
        "profile {src}: valid; {}, {}",
        crate::escape::count(p.repositories.len() as u64, "repository", "repositories"),
        crate::escape::count(p.jobs.len() as u64, "job", "jobs")
    );
    for r in p.repositories.values() {
        let _ = writeln!(s, "\nrepository {}", r.name);
        let _ = writeln!(s, "  url: {}", r.display_url());
        let pw = match &r.password {
            PasswordSource::File(f) => format!("file {}", f.display()),
            PasswordSource::Command(c) => format!("command {c}"),
            PasswordSource::EnvFile => "from the env file".to_owned(),
        };
        let _ = writeln!(s, "  password: {pw}");
        if let Some(e) = &r.env_file {
            let _ = writeln!(
                s,
                "  env-file: {} (variables go to restic only; values not shown)",
                e.display()
            );
        }
        let _ = writeln!(
            s,
            "  restic: {}; lock-wait {}; unlock-stale {}; network retries {}",
            r.restic.display(),
            humantime::format_duration(r.lock_wait),
            r.unlock_stale,
            r.retries
        );
        // Shown in full: restic's options hold no secret (the validator refuses them).
        for (k, v) in &r.backend.options {
            let _ = writeln!(s, "  option: -o {k}={v}");
        }
        if let Some(kib) = r.backend.limit_download {
            let _ = writeln!(s, "  limit-download: {kib} KiB/s");
        }
    }
    for j in &p.jobs {
        let _ = writeln!(
            s,
            "\njob {} (kind {}) on {}",
            j.name,
            j.kind.name(),
            j.repositories.join(", ")
        );
        match &j.kind {
            JobKind::Check(o) => plan_check(&mut s, o, j.timeout),
            JobKind::RestoreTest(o) => plan_restore(&mut s, o, j.timeout),
            JobKind::Audit(a) => {
                let _ = writeln!(
                    s,
                    "  audit snapshot {} in process (index and trees only, no lock, no cache) against the {} source; timeout {}",
                    a.snapshot.as_deref().unwrap_or("latest"),
                    match &a.source {
                        crate::source::SourceKind::Live => "live".to_owned(),
                        crate::source::SourceKind::Zfs { dataset, .. } => format!("ZFS snapshot of {dataset}"),
                    },
                    humantime::format_duration(j.timeout)
                );
            }
        }
        match &j.schedule {
            Some(sched) => {
                let jitter = if j.jitter.is_zero() {
                    String::new()
                } else {
                    format!(", jitter up to {}", humantime::format_duration(j.jitter))
                };
                let _ = writeln!(s, "  schedule `{sched}`{jitter}; next fire times:");
                for t in schedule::upcoming(sched, now, 5) {
                    let _ = writeln!(s, "    {}", t.format("%Y-%m-%d %H:%M:%S %:z (%a)"));
                }
            }
            None => {
                let _ = writeln!(
                    s,
                    "  schedule: none (runs with `restic-verify run`, or SIGUSR1 to the daemon)"
                );
            }
        }
        if !j.notify.is_empty() {
            let _ = writeln!(s, "  notify: {}", j.notify.join(", "));
        }
        let show = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .map_or_else(|| "none".to_owned(), |p| p.display().to_string())
        };
        let _ = writeln!(
            s,
            "  results: {}; metrics: {}; state: {}",
            show(&j.outputs.results),
            show(&j.outputs.metrics),
            show(&j.outputs.state_dir)
        );
    }
    for n in p.notifiers.values() {
        let _ = writeln!(
            s,
            "\nnotifier {} ({}): {}; states {}; timeout {}",
            n.name,
            n.kind.type_name(),
            n.kind.describe(),
            n.states
                .iter()
                .map(|st| st.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            humantime::format_duration(n.timeout)
        );
    }
    let _ = writeln!(s, "\nmax-concurrent: {}", p.max_concurrent);
    for n in notes(p) {
        let _ = writeln!(s, "\nwarning: {n}");
    }
    s
}

/// What is fine for the validator but may not be on this host.
fn notes(p: &Profile) -> Vec<String> {
    let mut notes: Vec<String> = p.warnings.clone();
    for r in p.repositories.values() {
        if let PasswordSource::File(f) = &r.password {
            if is_unit_credential(f) {
                notes.push(format!("password file {} of repository `{}` is a systemd credential: only its unit sees it ($CREDENTIALS_DIRECTORY is unset here), so it was not checked", f.display(), r.name));
            }
        }
        if let Some(e) = &r.env_file {
            if !e.exists() {
                notes.push(format!(
                    "env file {} of repository `{}` does not exist",
                    e.display(),
                    r.name
                ));
            }
        }
    }
    for j in &p.jobs {
        if let Some(m) = &j.outputs.metrics {
            if m.parent().is_some_and(|d| !d.is_dir()) {
                notes.push(format!(
                    "metrics directory of job `{}` does not exist: {}",
                    j.name,
                    m.parent()
                        .map(|d| d.display().to_string())
                        .unwrap_or_default()
                ));
            }
        }
        if let Some(r) = &j.outputs.results {
            if r.parent()
                .is_some_and(|d| !d.as_os_str().is_empty() && !d.is_dir())
            {
                notes.push(format!(
                    "results directory of job `{}` does not exist: {}",
                    j.name,
                    r.display()
                ));
            }
        }
    }
    notes
}
