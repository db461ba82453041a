//! audit-bench REPO PASSWORD_FILE [--map FROM=TO]... [--threads N] [--snapshot ID]
//! Audits the snapshot (default latest) of REPO against its source with
//! `restic_verify::audit::run` and prints one line:
//! `seconds=… files_verified=… bytes_verified=… verdict=… peak_rss_kib=… counts=…`
//! then the first listed entries on stderr.
use restic_verify::audit::{self, AuditOptions, SnapshotSelector};
use restic_verify::secret::Secret;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (repo, pwfile) = match (args.first(), args.get(1)) {
        (Some(r), Some(p)) => (r.clone(), p.clone()),
        _ => {
            eprintln!("usage: audit-bench REPO PASSWORD_FILE [--map FROM=TO]... [--threads N] [--snapshot ID]");
            std::process::exit(2);
        }
    };
    let pw = std::fs::read_to_string(&pwfile).expect("password file");
    let mut opts = AuditOptions::new(Secret::new(repo), Secret::new(pw.trim()));
    let mut it = args[2..].iter();
    while let Some(a) = it.next() {
        let v = it.next().expect("value");
        match a.as_str() {
            "--map" => {
                let (f, t) = v.split_once('=').expect("FROM=TO");
                opts.map.push((f.to_owned(), t.into()));
            }
            "--threads" => opts.threads = v.parse().expect("N"),
            "--snapshot" => opts.snapshot = SnapshotSelector::Id(v.clone()),
            _ => panic!("unknown option {a}"),
        }
    }
    let cancel = tokio_util::sync::CancellationToken::new();
    let o = match audit::run(&opts, &cancel) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("audit-bench: {e}");
            std::process::exit(3);
        }
    };
    let counts: Vec<String> = o
        .counts
        .nonzero()
        .map(|(c, n)| format!("{}:{n}", c.as_str()))
        .collect();
    println!(
        "seconds={:.3} files_verified={} bytes_verified={} verdict={} peak_rss_kib={} counts={}",
        o.seconds,
        o.files_verified,
        o.bytes_verified,
        o.verdict().as_str(),
        peak_rss_kib(),
        counts.join(",")
    );
    for e in o.entries.iter().take(10) {
        eprintln!("{} {} {}", e.class.as_str(), e.display_path(), e.detail);
    }
}

/// VmHWM from /proc/self/status.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
