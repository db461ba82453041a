//! The in-process pack reader agrees with `restic check --read-data`: for each kind
//! of damage, on repositories that the restic under test writes in format 1 and 2,
//! both name the same broken packs. The damage is made by hand on the pack and
//! index files (helpers here also serve `check_new`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aes256ctr_poly1305aes::aead::Aead;
use aes256ctr_poly1305aes::{Aes256CtrPoly1305Aes, Nonce};
use base64::Engine;
use rstest::rstest;
use serde_json::Value;
use sha2::{Digest, Sha256};

use restic_verify::packread;
use restic_verify::secret::Secret;

use crate::util::{self, TestEnv, FIXTURE_PASSWORD};

/// Deterministic pseudo-random bytes (xorshift; incompressible enough for zstd).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes `files` files of about `size` bytes under `dir/name` (seeded by `seed`).
pub fn write_files(dir: &Path, name: &str, seed: u64, files: usize, size: usize) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..files {
        std::fs::write(
            d.join(format!("f{i}.bin")),
            noise(seed * 1000 + i as u64, size),
        )
        .unwrap();
    }
    std::fs::write(d.join("notes.txt"), format!("text of {name}\n").repeat(200)).unwrap();
}

/// A repository written by the restic under test in `format`, with one backup of
/// `source` (the source dir is `env/src`).
pub fn new_repo(env: &TestEnv, name: &str, format: u8) -> PathBuf {
    let repo = env.path(name);
    let out = env
        .restic(&repo)
        .args(["init", "--repository-version", &format.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo
}

/// `restic backup` of `env/src` into `repo`.
pub fn backup(env: &TestEnv, repo: &Path) {
    let out = env
        .restic(repo)
        .current_dir(env.path(""))
        .args(["backup", "--host", "h", "src"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every pack file's path, by ID.
pub fn pack_files(repo: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = util::walk(&repo.join("data"))
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

/// The index as restic prints it: (index file ID, its JSON) for each index file.
pub fn indexes(env: &TestEnv, repo: &Path) -> Vec<(String, Value)> {
    let list = env.restic(repo).args(["list", "index"]).output().unwrap();
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|id| {
            let out = env
                .restic(repo)
                .args(["cat", "index", id])
                .output()
                .unwrap();
            (id.to_owned(), serde_json::from_slice(&out.stdout).unwrap())
        })
        .collect()
}

/// The pack holding the most data blobs (only data blobs) among those `pick`
/// accepts, with its blobs.
pub fn data_pack(env: &TestEnv, repo: &Path, pick: &dyn Fn(&str) -> bool) -> (String, Vec<Value>) {
    indexes(env, repo)
        .into_iter()
        .flat_map(|(_, idx)| idx["packs"].as_array().unwrap().clone())
        .filter(|p| pick(p["id"].as_str().unwrap()))
        .filter(|p| {
            p["blobs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["type"] == "data")
        })
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["blobs"].as_array().unwrap().clone(),
            )
        })
        .max_by_key(|(_, b)| b.len())
        .expect("a data pack")
}

pub fn pack_path(repo: &Path, id: &str) -> PathBuf {
    repo.join("data").join(&id[..2]).join(id)
}

fn writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The kinds of damage the issue names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    BlobByte,
    HeaderByte,
    Truncated,
    Deleted,
    Renamed,
    HeaderBlobNotInIndex,
}

/// Damages the biggest data pack of `repo`; returns the packs now broken.
pub fn damage(env: &TestEnv, repo: &Path, kind: Damage) -> BTreeSet<String> {
    damage_where(env, repo, kind, &|_| true)
}

/// Damages the biggest data pack `pick` accepts; returns the packs now broken.
pub fn damage_where(
    env: &TestEnv,
    repo: &Path,
    kind: Damage,
    pick: &dyn Fn(&str) -> bool,
) -> BTreeSet<String> {
    let (id, blobs) = data_pack(env, repo, pick);
    let path = pack_path(repo, &id);
    writable(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut broken: BTreeSet<String> = [id.clone()].into();
    match kind {
        Damage::BlobByte => {
            let b = blobs.iter().max_by_key(|b| b["length"].as_u64()).unwrap();
            let at = b["offset"].as_u64().unwrap() + b["length"].as_u64().unwrap() / 2;
            bytes[at as usize] ^= 0x01;
            std::fs::write(&path, bytes).unwrap();
        }
        Damage::HeaderByte => {
            let at = bytes.len() - 20;
            bytes[at] ^= 0x01;
            std::fs::write(&path, bytes).unwrap();
        }
        Damage::Truncated => {
            bytes.truncate(bytes.len() / 2);
            std::fs::write(&path, bytes).unwrap();
        }
        Damage::Deleted => std::fs::remove_file(&path).unwrap(),
        Damage::Renamed => {
            let (other, other_path) = pack_files(repo)
                .into_iter()
                .find(|(o, _)| *o != id)
                .expect("a second pack");
            writable(&other_path);
            std::fs::rename(&path, &other_path).unwrap();
            broken.insert(other);
        }
        Damage::HeaderBlobNotInIndex => drop_from_index(env, repo, &id),
    }
    broken
}

/// Rewrites the index file that lists pack `id` so that its first blob has another
/// ID (encrypted with the master key, stored under its new hash; the old file
/// removed): the pack header then lists a blob the index does not. The place and
/// length stay, so the pack's size still matches the index (restic ≥ 0.17 retries a
/// pack of the wrong size for 15 minutes before naming it).
fn drop_from_index(env: &TestEnv, repo: &Path, id: &str) {
    let out = env
        .restic(repo)
        .args(["cat", "masterkey"])
        .output()
        .unwrap();
    let mk: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let mut raw = aes256ctr_poly1305aes::Key::default();
    raw[0..32].copy_from_slice(&b64(&mk["encrypt"]));
    raw[32..48].copy_from_slice(&b64(&mk["mac"]["k"]));
    raw[48..64].copy_from_slice(&b64(&mk["mac"]["r"]));
    let cipher = Aes256CtrPoly1305Aes::new(&raw);
    let (file, mut idx) = indexes(env, repo)
        .into_iter()
        .find(|(_, idx)| {
            idx["packs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == id)
        })
        .expect("the index file of the pack");
    for p in idx["packs"].as_array_mut().unwrap() {
        if p["id"] == id {
            let blob = &mut p["blobs"][0];
            let other: String = blob["id"]
                .as_str()
                .unwrap()
                .chars()
                .map(|c| if c == '0' { '1' } else { '0' })
                .collect();
            blob["id"] = Value::String(other);
        }
    }
    let plain = serde_json::to_vec(&idx).unwrap();
    let iv: [u8; 16] = Sha256::digest(&plain)[..16].try_into().unwrap();
    let mut stored = iv.to_vec();
    stored.extend(
        cipher
            .encrypt(Nonce::from_slice(&iv), plain.as_slice())
            .unwrap(),
    );
    let name: String = Sha256::digest(&stored)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(repo.join("index").join(name), stored).unwrap();
    std::fs::remove_file(repo.join("index").join(file)).unwrap();
}

/// The packs `restic check --read-data` names as broken (its error lines, and
/// 0.18+'s `broken_packs`), read as restic-verify reads them.
pub fn restic_broken(env: &TestEnv, repo: &Path) -> BTreeSet<String> {
    let mut c = env.restic(repo);
    c.args(["check", "--read-data"]);
    let json = util::restic_version() >= (0, 18);
    if json {
        c.arg("--json");
    }
    let out = c.output().unwrap();
    assert!(!out.status.success(), "restic check found no damage");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect();
    let mut summary = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        lines.push(line.to_owned());
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            if v["message_type"] == "summary" {
                for p in v["broken_packs"].as_array().into_iter().flatten() {
                    summary.push(p.as_str().unwrap().to_owned());
                }
            }
        }
    }
    restic_verify::check::damage::broken_packs(&lines, json.then_some(summary.as_slice()))
        .into_iter()
        .collect()
}

/// The packs the in-process reader names as broken, reading every indexed pack.
pub fn reader_broken(repo: &Path) -> (BTreeSet<String>, packread::ReadOutcome) {
    let packs = packread::open(
        &Secret::new(repo.to_string_lossy()),
        &Secret::new(FIXTURE_PASSWORD),
    )
    .expect("open");
    let ids: Vec<String> = packs.indexed().into_iter().map(|p| p.id).collect();
    let outcome = packs
        .read(&ids, 2, &tokio_util::sync::CancellationToken::new())
        .expect("read");
    (
        outcome.broken.iter().map(|b| b.id.clone()).collect(),
        outcome,
    )
}

#[rstest]
fn packread_names_the_same_broken_packs_as_restic_check_read_data(
    #[values(1, 2)] format: u8,
    #[values(
        Damage::BlobByte,
        Damage::HeaderByte,
        Damage::Truncated,
        Damage::Deleted,
        Damage::Renamed,
        Damage::HeaderBlobNotInIndex
    )]
    kind: Damage,
) {
    let env = TestEnv::new();
    write_files(&env.path("src"), "a", 1, 6, 150_000);
    let repo = new_repo(&env, "repo", format);
    backup(&env, &repo);
    let (clean, all) = reader_broken(&repo);
    assert!(clean.is_empty(), "a fresh repository: {all:?}");
    assert_eq!(all.read.len(), pack_files(&repo).len());
    let want = damage(&env, &repo, kind);
    let restic = restic_broken(&env, &repo);
    let (ours, outcome) = reader_broken(&repo);
    assert_eq!(restic, want, "restic, {kind:?}, format {format}");
    assert_eq!(ours, restic, "{kind:?}, format {format}: {outcome:?}");
}
