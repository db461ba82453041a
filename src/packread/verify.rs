//! Verifies the bytes of one pack file, purely: what `restic check --read-data`
//! checks, from the bytes, the master key and the blobs the index places in the
//! pack. The SHA-256 of the whole file must equal its name; the header (at the end:
//! IV + ciphertext + MAC, then its length as 4 bytes little-endian; entries of type
//! (1), length (4), uncompressed length (4, compressed types only) and ID (32))
//! must decrypt and list exactly the blobs the index lists, at the same places;
//! every indexed blob must decrypt (its MAC verifies), decompress (zstd, for the
//! compressed types) and hash (SHA-256) to its ID.
//!
//! No I/O, no clock: the caller reads the file. The result names each failed blob
//! and why, so the damage report can tell lost content from a pack that is only
//! inconsistent.

use std::collections::BTreeMap;

use aes256ctr_poly1305aes::aead::{Aead, AeadInPlace};
use aes256ctr_poly1305aes::{Aes256CtrPoly1305Aes, Nonce};
use sha2::{Digest, Sha256};

/// IV before and MAC after every encrypted piece.
const IV: usize = 16;
const MAC: usize = 16;

/// A blob as the index places it in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub id: [u8; 32],
    pub tree: bool,
    /// Where its stored (encrypted) bytes start in the pack, and how many there are.
    pub offset: u32,
    pub length: u32,
    /// The plaintext length of a compressed blob (repository format 2); `None`: the
    /// blob is stored uncompressed.
    pub uncompressed: Option<u32>,
}

/// One indexed blob whose content cannot be had back from the pack.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlobFailure {
    /// The blob ID, hex.
    pub id: String,
    pub tree: bool,
    pub reason: String,
}

/// What was wrong with one pack; empty when it verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Problems of the pack as a whole: its hash, its header, header against index.
    pub pack: Vec<String>,
    /// Indexed blobs whose content failed: their data is lost.
    pub blobs: Vec<BlobFailure>,
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        self.pack.is_empty() && self.blobs.is_empty()
    }

    /// Every problem in one line: the pack's first, then each failed blob.
    pub fn summary(&self) -> String {
        let mut parts = self.pack.clone();
        parts.extend(
            self.blobs
                .iter()
                .map(|b| format!("blob {}: {}", b.id, b.reason)),
        );
        parts.join("; ")
    }
}

/// What one reader reuses from blob to blob: a zstd decompression context (making
/// one per blob cost a fifth of a whole read) and the plaintext buffers.
pub struct Scratch {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    plain: Vec<u8>,
    content: Vec<u8>,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            // Without a context (out of memory), each blob makes its own.
            zstd: zstd::bulk::Decompressor::new().ok(),
            plain: Vec::new(),
            content: Vec::new(),
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// Verifies a whole pack file named `name` against the index's `expected` blobs.
pub fn verify(
    name: &[u8; 32],
    bytes: &[u8],
    cipher: &Aes256CtrPoly1305Aes,
    expected: &[Expected],
) -> Verdict {
    verify_with(name, bytes, cipher, expected, &mut Scratch::new())
}

/// `verify`, reusing `scratch` (one per reader thread).
pub fn verify_with(
    name: &[u8; 32],
    bytes: &[u8],
    cipher: &Aes256CtrPoly1305Aes,
    expected: &[Expected],
    scratch: &mut Scratch,
) -> Verdict {
    let mut v = Verdict::default();
    let got: [u8; 32] = Sha256::digest(bytes).into();
    if &got != name {
        v.pack.push(format!(
            "the pack's SHA-256 is {}, not its name ({} bytes read)",
            hex(&got),
            bytes.len()
        ));
    }
    match header(bytes, cipher) {
        Ok(listed) => compare(&listed, expected, &mut v),
        Err(why) => v.pack.push(format!("the pack header {why}")),
    }
    for e in expected {
        if let Err(reason) = blob(bytes, cipher, e, scratch) {
            v.blobs.push(BlobFailure {
                id: hex(&e.id),
                tree: e.tree,
                reason,
            });
        }
    }
    v
}

/// The blobs the pack's header lists, with their places. `Err` says why it cannot
/// be read ("is …").
pub fn header(bytes: &[u8], cipher: &Aes256CtrPoly1305Aes) -> Result<Vec<Expected>, String> {
    let total = bytes.len();
    let Some(tail) = total.checked_sub(4).and_then(|i| bytes.get(i..)) else {
        return Err(format!("is missing: the pack has only {total} bytes"));
    };
    let mut len4 = [0u8; 4];
    len4.copy_from_slice(tail);
    let hlen = u32::from_le_bytes(len4) as usize;
    let Some(start) = (total - 4).checked_sub(hlen) else {
        return Err(format!(
            "is cut off: its length says {hlen} bytes, the pack has {total}"
        ));
    };
    if hlen < IV + MAC {
        return Err(format!("is too short to decrypt ({hlen} bytes)"));
    }
    let enc = &bytes[start..total - 4];
    let plain = cipher
        .decrypt(Nonce::from_slice(&enc[..IV]), &enc[IV..])
        .map_err(|_| "cannot be decrypted (MAC check failed)".to_owned())?;
    let mut out = Vec::new();
    let mut rest = plain.as_slice();
    let mut offset: u64 = 0;
    while !rest.is_empty() {
        let tpe = rest[0];
        let (tree, compressed) = match tpe {
            0 => (false, false),
            1 => (true, false),
            2 => (false, true),
            3 => (true, true),
            other => return Err(format!("lists an entry of unknown type {other}")),
        };
        let size = 1 + 4 + if compressed { 4 } else { 0 } + 32;
        if rest.len() < size {
            return Err("ends inside an entry".to_owned());
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let length = u32_at(1);
        let uncompressed = compressed.then(|| u32_at(5));
        let mut id = [0u8; 32];
        id.copy_from_slice(&rest[size - 32..size]);
        out.push(Expected {
            id,
            tree,
            offset: u32::try_from(offset).map_err(|_| "places a blob beyond 4 GiB".to_owned())?,
            length,
            uncompressed,
        });
        offset += u64::from(length);
        rest = &rest[size..];
    }
    if offset != start as u64 {
        return Err(format!(
            "lists {offset} bytes of blobs, but they take {start} bytes of the pack"
        ));
    }
    Ok(out)
}

/// Header against index: every blob in both, at the same place, in neither only.
fn compare(listed: &[Expected], expected: &[Expected], v: &mut Verdict) {
    let key = |e: &Expected| (e.id, e.tree);
    let in_header: BTreeMap<_, &Expected> = listed.iter().map(|e| (key(e), e)).collect();
    let in_index: BTreeMap<_, &Expected> = expected.iter().map(|e| (key(e), e)).collect();
    for (k, e) in &in_index {
        match in_header.get(k) {
            None => v.pack.push(format!(
                "the index lists {} blob {}, the pack header does not",
                kind(e),
                hex(&e.id)
            )),
            Some(h) if h != e => v.pack.push(format!(
                "{} blob {} is at {}+{} in the pack header, at {}+{} in the index",
                kind(e),
                hex(&e.id),
                h.offset,
                h.length,
                e.offset,
                e.length
            )),
            Some(_) => {}
        }
    }
    for (k, h) in &in_header {
        if !in_index.contains_key(k) {
            v.pack.push(format!(
                "the pack header lists {} blob {}, the index does not",
                kind(h),
                hex(&h.id)
            ));
        }
    }
}

/// One blob's content: decrypts, decompresses and hashes to its ID.
fn blob(
    bytes: &[u8],
    cipher: &Aes256CtrPoly1305Aes,
    e: &Expected,
    scratch: &mut Scratch,
) -> Result<(), String> {
    let start = e.offset as usize;
    let end = start + e.length as usize;
    let Some(data) = bytes.get(start..end) else {
        return Err(format!(
            "its bytes {start}..{end} lie beyond the end of the pack ({} bytes)",
            bytes.len()
        ));
    };
    if data.len() < IV + MAC {
        return Err(format!("too short to decrypt ({} bytes)", data.len()));
    }
    let Scratch {
        zstd,
        plain,
        content,
    } = scratch;
    plain.clear();
    plain.extend_from_slice(&data[IV..]);
    cipher
        .decrypt_in_place(Nonce::from_slice(&data[..IV]), b"", plain)
        .map_err(|_| "decryption failed (MAC check failed)".to_owned())?;
    let content: &[u8] = match e.uncompressed {
        None => plain,
        Some(want) => {
            let want = want as usize;
            content.clear();
            content.reserve(want);
            let out = match zstd {
                Some(ctx) => ctx
                    .decompress_to_buffer(plain.as_slice(), content)
                    .map(|_| ()),
                None => zstd::bulk::decompress(plain, want).map(|v| *content = v),
            };
            out.map_err(|err| format!("cannot be decompressed: {err}"))?;
            if content.len() != want {
                return Err(format!(
                    "decompressed to {} bytes, the index says {want}",
                    content.len()
                ));
            }
            content
        }
    };
    let got: [u8; 32] = Sha256::digest(content).into();
    if got != e.id {
        return Err(format!("its content hashes to {}", hex(&got)));
    }
    Ok(())
}

fn kind(e: &Expected) -> &'static str {
    if e.tree {
        "tree"
    } else {
        "data"
    }
}

/// Lower-case hex of an ID.
pub fn hex(id: &[u8]) -> String {
    use std::fmt::Write;
    id.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// An ID from 64 hex digits.
pub fn parse_id(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
