//! restic-verify on an S3 repository (moto's S3 API on loopback), driven with the
//! real restic that RESTIC_VERIFY_TEST_RESTIC names; run on every restic version of
//! the matrix. The keys reach restic-verify only through `--env-file`, and no output
//! or file it writes holds the secret key. One repository carries the whole story
//! (check with rotation and a ledger in bytes, a restore test, the audit, bit rot in
//! the source, a flipped byte in a stored pack, the server stopped), so restic
//! initialises and backs up once; refused keys need no repository.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use crate::servers::MotoServer;
use crate::util::{self, TestEnv};

const ACCESS_KEY: &str = "AKIARVTESTKEY0000001";
/// moto takes any key; this one must never show up in anything restic-verify writes.
const SECRET_KEY: &str = "rv-S3cret-Key-9f3a7c1e";

/// The env file restic-verify gets (mode 0600).
fn env_file(env: &TestEnv) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = env.path("s3.env");
    std::fs::write(
        &p,
        format!("AWS_ACCESS_KEY_ID={ACCESS_KEY}\nAWS_SECRET_ACCESS_KEY={SECRET_KEY}\nAWS_DEFAULT_REGION=us-east-1\n"),
    )
    .expect("env file");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    p
}

/// restic itself (setup only), with the keys in its environment.
fn restic(env: &TestEnv, url: &str) -> StdCommand {
    let mut c = env.restic(Path::new(url));
    c.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1");
    c
}

/// `restic-verify SUB` on `url`, the keys only in `--env-file`, JSONL and metrics.
fn verify(env: &TestEnv, sub: &str, url: &str) -> Command {
    let mut c = env.cmd();
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        c.env_remove(k);
    }
    c.arg(sub)
        .arg("--repo")
        .arg(url)
        .arg("--password-file")
        .arg(env.fixture_password())
        .arg("--env-file")
        .arg(env_file(env))
        .arg("--results")
        .arg(env.path("results.jsonl"))
        .arg("--metrics")
        .arg(env.path("metrics.prom"));
    c
}

/// Runs `c`, keeps its output for the secret scan, asserts the exit code and
/// returns the run's record.
fn run(env: &TestEnv, c: &mut Command, code: i32, outputs: &mut Vec<u8>) -> Value {
    let out: Output = c.output().expect("run");
    outputs.extend_from_slice(&out.stdout);
    outputs.extend_from_slice(&out.stderr);
    util::assert_exit(&out, code);
    env.last_record()
}

/// Flips one byte in the middle of the largest pack under `prefix/data/` with boto3;
/// returns the pack's ID.
fn flip_largest_pack(port: u16, bucket: &str, prefix: &str) -> String {
    let script = format!(
        r#"
import boto3
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="{ACCESS_KEY}", aws_secret_access_key="{SECRET_KEY}")
objs = s3.list_objects_v2(Bucket="{bucket}", Prefix="{prefix}/data/")["Contents"]
key = max(objs, key=lambda o: o["Size"])["Key"]
body = bytearray(s3.get_object(Bucket="{bucket}", Key=key)["Body"].read())
body[len(body) // 2] ^= 0x01
s3.put_object(Bucket="{bucket}", Key=key, Body=bytes(body))
print(key.rsplit("/", 1)[1])
"#
    );
    let out = StdCommand::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn flip_keep_mtime(path: &Path) {
    let mtime = std::fs::metadata(path)
        .expect("meta")
        .modified()
        .expect("mtime");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let mut b = [0u8];
    f.read_exact(&mut b).expect("read");
    b[0] ^= 0x01;
    f.seek(SeekFrom::Start(0)).expect("seek");
    f.write_all(&b).expect("write");
    f.set_modified(mtime).expect("mtime");
}

/// The secret key is in no output and in no file under the env's directory except
/// the env file it was given in.
fn assert_secret_nowhere(env: &TestEnv, outputs: &[u8]) {
    assert!(
        !String::from_utf8_lossy(outputs).contains(SECRET_KEY),
        "the secret key was printed"
    );
    let given = env.path("s3.env");
    for f in util::walk(env.dir.path()) {
        if f == given || !f.is_file() || f.starts_with(env.path("live")) {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET_KEY),
            "the secret key is in {}",
            f.display()
        );
    }
}

#[test]
fn backends_s3_check_ledger_restore_audit_damage_and_server_down() {
    let env = TestEnv::new();
    let mut server = MotoServer::start(&env, false);
    let url = server.url("bkt/repo");
    let src = env.source_tree();
    let st = restic(&env, &url)
        .arg("init")
        .status()
        .expect("restic init");
    assert!(st.success());
    let st = restic(&env, &url)
        .arg("backup")
        .arg("-q")
        .arg(&src)
        .status()
        .expect("restic backup");
    assert!(st.success());
    let mut outputs = Vec::new();

    // Check with rotation and a state dir: the ledger knows every pack's size.
    let state = env.path("state");
    let r = run(
        &env,
        verify(&env, "check", &url)
            .arg("--read-data-subset")
            .arg("rotate/2")
            .arg("--state-dir")
            .arg(&state),
        0,
        &mut outputs,
    );
    assert_eq!(r["outcome"], "pass", "{r}");
    assert!(
        r["check"]["coverage"]["unread_bytes"].is_u64(),
        "pack sizes unknown: {r}"
    );
    let ledger: Value = std::fs::read(state.join("ledger-repo.json"))
        .map(|b| serde_json::from_slice(&b).expect("ledger"))
        .expect("ledger file");
    let packs = ledger["packs"].as_object().expect("packs");
    assert!(
        !packs.is_empty()
            && packs
                .values()
                .all(|p| p["size"].as_u64().is_some_and(|s| s > 0)),
        "{ledger}"
    );

    // A 10-file restore test.
    std::fs::create_dir_all(env.path("test-dir")).expect("mkdir");
    let r = run(
        &env,
        verify(&env, "restore-test", &url)
            .args(["--sample", "10", "--test-dir"])
            .arg(env.path("test-dir")),
        0,
        &mut outputs,
    );
    assert_eq!(r["restore_test"]["sampled"], 10, "{r}");

    // The audit: every entry matched.
    let r = run(&env, &mut verify(&env, "audit", &url), 0, &mut outputs);
    let counts = r["audit"]["counts"].as_object().expect("counts");
    assert!(
        counts.iter().all(|(class, n)| class == "match" || n == 0)
            && counts["match"].as_u64() > Some(38),
        "{r}"
    );

    // Bit rot in the source (size and mtime kept) is found.
    let rotten = util::walk(&src)
        .into_iter()
        .find(|p| p.is_file() && std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .expect("a file");
    flip_keep_mtime(&rotten);
    let r = run(&env, &mut verify(&env, "audit", &url), 1, &mut outputs);
    assert_eq!(r["audit"]["counts"]["mismatch"], 1, "{r}");
    let name = rotten
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(r.to_string().contains(&name), "{name} not named: {r}");

    // A flipped byte in a pack on the S3 storage: check --read-data names the pack.
    let pack = flip_largest_pack(server.port, "bkt", "repo");
    let r = run(
        &env,
        verify(&env, "check", &url).arg("--read-data"),
        1,
        &mut outputs,
    );
    let named: Vec<&str> = r["damage"]["packs"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        named
            .iter()
            .any(|p| pack.starts_with(p) || p.starts_with(&pack)),
        "pack {pack} not named: {r}"
    );

    // The server stopped: `network`, exit 3, for check and audit alike.
    server.stop();
    // restic 0.14 gives up after about 20 s, 0.18+ retries for up to 15 minutes: the
    // timeout cuts that short and the network lines restic printed name the cause.
    for sub in ["check", "audit"] {
        let r = run(
            &env,
            verify(&env, sub, &url).args(["--retries", "0", "--timeout", "30s"]),
            3,
            &mut outputs,
        );
        assert_eq!(r["error"]["category"], "network", "{sub}: {r}");
    }
    assert_secret_nowhere(&env, &outputs);
}

#[test]
fn backends_s3_refused_keys_are_auth_quickly_for_check_and_audit() {
    let env = TestEnv::new();
    let server = MotoServer::start(&env, true);
    let url = server.url("bkt/repo");
    let mut outputs = Vec::new();
    for sub in ["check", "audit"] {
        let started = Instant::now();
        let r = run(&env, &mut verify(&env, sub, &url), 3, &mut outputs);
        assert_eq!(r["error"]["category"], "auth", "{sub}: {r}");
        let message = r["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("AWS_SECRET_ACCESS_KEY"),
            "{sub}: the variable to fix is not named: {message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{sub}: refused keys were retried for {:?}",
            started.elapsed()
        );
    }
    assert_secret_nowhere(&env, &outputs);
}
