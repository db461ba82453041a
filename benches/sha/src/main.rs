//! sha-bench FILE...           hash each file on one thread (like restic-verify hashes one file)
//! sha-bench -j N FILE...      hash the files on N threads, files split into N contiguous chunks
//!                             (the split src/restore_test/verify.rs uses)
//! sha-bench --mem MIB         hash MIB of in-memory data (no I/O): the crate's raw speed
//! Prints one line per run: `bytes=… seconds=… mib_per_s=…` then the digests on stderr.
use sha2::{Digest, Sha256};
use std::time::Instant;

const BLOCK: usize = 256 * 1024;

/// restic-verify's own streaming hash (src/compare.rs), so the probe measures what ships.
fn hash_file(path: &str) -> std::io::Result<(String, u64)> {
    restic_verify::compare::hash_file(std::path::Path::new(path))
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--mem") {
        let mib: usize = args[1].parse().expect("MIB");
        let buf = vec![0x5au8; BLOCK];
        let t = Instant::now();
        let mut h = Sha256::new();
        for _ in 0..(mib * 4) {
            h.update(&buf);
        }
        let d = h.finalize();
        let s = t.elapsed().as_secs_f64();
        println!("bytes={} seconds={s:.4} mib_per_s={:.1}", mib << 20, mib as f64 / s);
        eprintln!("{:02x}{:02x}…", d[0], d[1]);
        return;
    }
    let mut threads = 1usize;
    if args.first().map(String::as_str) == Some("-j") {
        threads = args[1].parse().expect("N");
        args.drain(..2);
    }
    let t = Instant::now();
    let chunk = args.len().div_ceil(threads).max(1);
    let results: Vec<(String, String, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = args
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|p| {
                            let (d, n) = hash_file(p).expect("read");
                            (p.clone(), d, n)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().expect("join")).collect()
    });
    let s = t.elapsed().as_secs_f64();
    let bytes: u64 = results.iter().map(|r| r.2).sum();
    println!(
        "bytes={bytes} seconds={s:.4} mib_per_s={:.1}",
        bytes as f64 / (1u64 << 20) as f64 / s
    );
    for (p, d, _) in results {
        eprintln!("{d}  {p}");
    }
}
