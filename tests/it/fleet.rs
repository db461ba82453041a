//! The daemon over a fleet (issue #25), bounded: 21 repositories on 3 REST servers
//! (`rclone serve restic`), one check job firing every 5 seconds, run by two daemons
//! on the same repositories as two hosts of a 2-shard fleet (`--shard 1/2`, `2/2`).
//! Each daemon fires, checks only its shard's repositories, and together they give
//! every repository a passing result exactly from one of them. About 70 s on a
//! loaded machine; what it proves is the daemon's and the shard's, not restic's
//! (plain checks over REST, which `backends` covers per restic version), so one
//! restic version is enough.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::servers::RestServer;
use crate::util::{self, TestEnv};

const SERVERS: usize = 3;
const PER_SERVER: usize = 7;

/// A daemon started as `restic-verify daemon --shard SHARD`, killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(env: &TestEnv, profile: &Path, shard: &str, log: &str) -> Daemon {
        let log = env.path(log);
        let mut c = StdCommand::new(assert_cmd::cargo::cargo_bin("restic-verify"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RESTIC_") {
                c.env_remove(k);
            }
        }
        let child = c
            .env("RESTIC_VERIFY_RESTIC", util::restic_bin())
            .env("RESTIC_VERIFY_LOG", "info")
            .args(["daemon", "--no-catch-up", "--shard", shard, "--config"])
            .arg(profile)
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn daemon");
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> i32 {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "daemon did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The profile of one host: the same repositories and job, its own results file.
fn profile(env: &TestEnv, urls: &BTreeMap<String, String>, host: &str) -> PathBuf {
    let pw = env.fixture_password();
    let metrics = env.path(&format!("metrics-{host}"));
    std::fs::create_dir_all(&metrics).expect("metrics dir");
    let mut text = format!(
        "[defaults]\npassword-file = {pw:?}\nresults = {:?}\nmetrics-dir = {metrics:?}\nstate-dir = {:?}\nmax-concurrent = 2\n",
        env.path(&format!("results-{host}.jsonl")),
        env.path(&format!("state-{host}")),
    );
    for (name, url) in urls {
        text += &format!("\n[repository.{name}]\nurl = {url:?}\n");
    }
    let names: Vec<&String> = urls.keys().collect();
    text += &format!(
        "\n[job.check]\nkind = \"check\"\nrepositories = {names:?}\nschedule = \"*/5 * * * * *\"\n"
    );
    let p = env.path(&format!("{host}.toml"));
    std::fs::write(&p, text).expect("profile");
    p
}

fn repositories_with_records(path: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in util::read_jsonl(path) {
        let name = r["repository"].as_str().expect("repository").to_owned();
        out.entry(name).or_default().push(r);
    }
    out
}

#[test]
fn fleet_two_sharded_daemons_check_every_repository_of_three_rest_servers_once() {
    let env = TestEnv::new();
    let clean = env.fixture_repo("clean");
    let mut servers = Vec::new();
    let mut urls = BTreeMap::new();
    for s in 0..SERVERS {
        let dir = env.path(&format!("served-{s}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for i in 0..PER_SERVER {
            let name = format!("host{s}-repo{i}");
            let st = StdCommand::new("cp")
                .arg("-a")
                .arg(&clean)
                .arg(dir.join(&name))
                .status()
                .expect("cp");
            assert!(st.success());
            urls.insert(name, String::new());
        }
        let server = RestServer::start(&env, &dir, &[]);
        for i in 0..PER_SERVER {
            let name = format!("host{s}-repo{i}");
            urls.insert(name.clone(), server.url(&name));
        }
        servers.push(server);
    }
    let all: BTreeSet<String> = urls.keys().cloned().collect();
    let hosts = [("a", "1/2"), ("b", "2/2")];
    let mut daemons: Vec<(String, Daemon)> = hosts
        .iter()
        .map(|(host, shard)| {
            let p = profile(&env, &urls, host);
            (
                (*host).to_owned(),
                Daemon::start(&env, &p, shard, &format!("daemon-{host}.log")),
            )
        })
        .collect();

    // Wait (bounded) until every repository has a record and each daemon finished a fire.
    let start = Instant::now();
    loop {
        let mut covered = BTreeSet::new();
        for (host, _) in &daemons {
            covered.extend(
                repositories_with_records(&env.path(&format!("results-{host}.jsonl"))).into_keys(),
            );
        }
        let fired = daemons
            .iter()
            .all(|(_, d)| d.log().contains("`check` finished"));
        if covered == all && fired {
            break;
        }
        for (host, d) in &mut daemons {
            assert!(d.alive(), "daemon {host} exited:\n{}", d.log());
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "after 600 s {} of {} repositories have results; logs:\n{}\n{}",
            covered.len(),
            all.len(),
            daemons[0].1.log(),
            daemons[1].1.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (host, daemon) in daemons {
        let log = daemon.log();
        assert_eq!(daemon.stop(), 0, "daemon {host}:\n{log}");
        assert!(log.contains("starting `check` (scheduled for"), "{log}");
        let records = repositories_with_records(&env.path(&format!("results-{host}.jsonl")));
        for (repo, runs) in &records {
            if let Some(other) = seen.insert(repo.clone(), host.clone()) {
                panic!("{repo} was checked by hosts {other} and {host}");
            }
            for r in runs
                .iter()
                .filter(|r| r["error"]["category"] != "interrupted")
            {
                assert_eq!(r["outcome"], "pass", "{r}");
            }
        }
        let metrics =
            std::fs::read_to_string(env.path(&format!("metrics-{host}/restic-verify-check.prom")))
                .expect("metrics of the job");
        for repo in records.keys() {
            assert!(
                metrics.contains(&format!("repository=\"{repo}\"")),
                "{repo} missing:\n{metrics}"
            );
        }
    }
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), all);
    drop(servers);
}
