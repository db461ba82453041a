//! Unit tests of the pack verifier on bytes written by real restic: `testdata/v1`
//! (restic 0.14, repository format 1: uncompressed blobs) and `testdata/v2` (restic
//! 0.18, format 2: zstd), each a backup of three small files (see
//! `testdata/README.md`), with the master key and index restic printed
//! (`restic cat masterkey`, `restic cat index`).

use std::path::PathBuf;

use base64::Engine;
use rstest::rstest;
use serde_json::Value;

use super::*;

struct Vector {
    cipher: Aes256CtrPoly1305Aes,
    /// (pack name, its bytes, the index's blobs in it)
    packs: Vec<([u8; 32], Vec<u8>, Vec<Expected>)>,
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

fn load(format: &str) -> Vector {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/packread/testdata")
        .join(format);
    let read = |name: &str| std::fs::read(dir.join(name)).expect("test vector");
    let mk: Value = serde_json::from_slice(&read("masterkey.json")).expect("json");
    let mut raw = aes256ctr_poly1305aes::Key::default();
    raw[0..32].copy_from_slice(&b64(&mk["encrypt"]));
    raw[32..48].copy_from_slice(&b64(&mk["mac"]["k"]));
    raw[48..64].copy_from_slice(&b64(&mk["mac"]["r"]));
    let cipher = Aes256CtrPoly1305Aes::new(&raw);
    let index: Value = serde_json::from_slice(&read("index.json")).expect("json");
    let packs = index["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .map(|p| {
            let id = p["id"].as_str().expect("id");
            let blobs = p["blobs"]
                .as_array()
                .expect("blobs")
                .iter()
                .map(|b| Expected {
                    id: parse_id(b["id"].as_str().expect("id")).expect("hex"),
                    tree: b["type"] == "tree",
                    offset: b["offset"].as_u64().expect("offset") as u32,
                    length: b["length"].as_u64().expect("length") as u32,
                    uncompressed: b["uncompressed_length"].as_u64().map(|n| n as u32),
                })
                .collect();
            (parse_id(id).expect("hex"), read(id), blobs)
        })
        .collect();
    Vector { cipher, packs }
}

/// The data pack of a vector (the one holding the most bytes).
fn data_pack(v: &Vector) -> ([u8; 32], Vec<u8>, Vec<Expected>) {
    v.packs
        .iter()
        .max_by_key(|p| p.1.len())
        .cloned()
        .expect("a pack")
}

#[rstest]
fn verify_accepts_every_pack_restic_wrote(#[values("v1", "v2")] format: &str) {
    let v = load(format);
    assert_eq!(v.packs.len(), 2, "a data and a tree pack");
    for (name, bytes, expected) in &v.packs {
        let got = verify(name, bytes, &v.cipher, expected);
        assert!(got.is_ok(), "{format} {}: {got:?}", hex(name));
        assert_eq!(
            header(bytes, &v.cipher).expect("header").len(),
            expected.len()
        );
    }
}

#[rstest]
fn verify_flipped_byte_in_a_blob_names_that_blob_and_the_pack_hash(
    #[values("v1", "v2")] format: &str,
) {
    let v = load(format);
    let (name, mut bytes, expected) = data_pack(&v);
    let target = expected.iter().max_by_key(|e| e.length).expect("a blob");
    bytes[(target.offset + target.length / 2) as usize] ^= 0x01;
    let got = verify(&name, &bytes, &v.cipher, &expected);
    assert_eq!(got.blobs.len(), 1, "{got:?}");
    assert_eq!(got.blobs[0].id, hex(&target.id));
    assert!(got.blobs[0].reason.contains("MAC"), "{got:?}");
    assert_eq!(got.pack.len(), 1, "{got:?}");
    assert!(got.pack[0].contains("not its name"), "{got:?}");
}

#[rstest]
fn verify_flipped_byte_in_the_header_fails_the_pack_not_the_blobs(
    #[values("v1", "v2")] format: &str,
) {
    let v = load(format);
    let (name, mut bytes, expected) = data_pack(&v);
    let at = bytes.len() - 10; // inside the header's MAC
    bytes[at] ^= 0x80;
    let got = verify(&name, &bytes, &v.cipher, &expected);
    assert!(got.blobs.is_empty(), "the blobs are intact: {got:?}");
    assert!(
        got.pack
            .iter()
            .any(|p| p.contains("header cannot be decrypted")),
        "{got:?}"
    );
    assert!(
        got.pack.iter().any(|p| p.contains("not its name")),
        "{got:?}"
    );
}

#[rstest]
fn verify_truncated_pack_fails_the_header_and_the_cut_blobs(#[values("v1", "v2")] format: &str) {
    let v = load(format);
    let (name, bytes, expected) = data_pack(&v);
    let last = expected.iter().max_by_key(|e| e.offset).expect("a blob");
    let cut = &bytes[..(last.offset + 1) as usize];
    let got = verify(&name, cut, &v.cipher, &expected);
    assert!(got.blobs.iter().any(|b| b.id == hex(&last.id)), "{got:?}");
    assert!(
        got.pack.iter().any(|p| p.starts_with("the pack header")),
        "{got:?}"
    );
    let empty = verify(&name, &[], &v.cipher, &expected);
    assert_eq!(empty.blobs.len(), expected.len(), "{empty:?}");
}

#[rstest]
fn verify_header_and_index_must_list_the_same_blobs(#[values("v1", "v2")] format: &str) {
    let v = load(format);
    let (name, bytes, expected) = data_pack(&v);
    // The header lists a blob the index does not.
    let fewer = &expected[1..];
    let got = verify(&name, &bytes, &v.cipher, fewer);
    assert_eq!(
        got.pack,
        [format!(
            "the pack header lists data blob {}, the index does not",
            hex(&expected[0].id)
        )],
        "{got:?}"
    );
    assert!(got.blobs.is_empty());
    // The index lists a blob the pack does not hold: its bytes are not there.
    let mut more = expected.clone();
    let last = expected.iter().max_by_key(|e| e.offset).expect("a blob");
    more.push(Expected {
        id: [7; 32],
        offset: last.offset + last.length,
        ..*last
    });
    let got = verify(&name, &bytes, &v.cipher, &more);
    assert!(
        got.pack
            .iter()
            .any(|p| p.contains("the index lists data blob 0707") && p.contains("does not")),
        "{got:?}"
    );
    assert_eq!(got.blobs.len(), 1, "{got:?}");
    assert_eq!(got.blobs[0].id, hex(&[7; 32]));
}

#[rstest]
fn verify_pack_renamed_to_another_name_fails_only_its_hash(#[values("v1", "v2")] format: &str) {
    let v = load(format);
    let (_, bytes, expected) = data_pack(&v);
    let got = verify(&[1; 32], &bytes, &v.cipher, &expected);
    assert_eq!(got.pack.len(), 1, "{got:?}");
    assert!(got.pack[0].contains("not its name"));
    assert!(!got.is_ok());
}

#[test]
fn verify_with_another_key_fails_every_blob_and_the_header() {
    let v = load("v2");
    let other = load("v1").cipher;
    let (name, bytes, expected) = data_pack(&v);
    let got = verify(&name, &bytes, &other, &expected);
    assert_eq!(got.blobs.len(), expected.len(), "{got:?}");
    assert!(got.summary().contains("MAC check failed"));
}

#[test]
fn parse_id_round_trips_hex_and_refuses_the_rest() {
    let id = [0xab; 32];
    assert_eq!(parse_id(&hex(&id)), Some(id));
    assert_eq!(parse_id("abc"), None);
    assert_eq!(parse_id(&"zz".repeat(32)), None);
}

#[rstest]
fn verify_blob_whose_content_hashes_to_another_id_fails(#[values("v1", "v2")] format: &str) {
    let v = load(format);
    let (name, bytes, mut expected) = data_pack(&v);
    expected[0].id[0] ^= 0xff;
    let got = verify(&name, &bytes, &v.cipher, &expected);
    assert_eq!(got.blobs.len(), 1, "{got:?}");
    assert!(
        got.blobs[0].reason.starts_with("its content hashes to"),
        "{got:?}"
    );
}
