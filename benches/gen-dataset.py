#!/usr/bin/env python3
"""Seeded generator of the benchmark source tree (reproducible byte for byte).

Usage: benches/gen-dataset.py DEST [--seed 42] [--files 200000] [--dirs 2000]
                              [--large 4] [--large-total-mib 2048]
                              [--min-size 1024] [--max-size 8192] [--spread pareto]

Layout: DEST/ holds `--dirs` directories grown as a random tree (12 top-level
directories, up to 6 levels deep, uneven sizes), `--files` small files of 1-8 KiB
(`--min-size` to `--max-size` bytes; random bytes, so restic can neither deduplicate
nor compress them) spread over the directories with a skewed (Pareto) weight (or
evenly: `--spread uniform`), and `--large` files totalling `--large-total-mib` MiB in
DEST/media/video/. About 1% of the names contain a space and 0.2% contain glob
characters (`[`, `]`), which restic-verify must escape in `--include`. Every file and
directory gets the same fixed mtime (2024-01-01 UTC).

Large files are AES-256-CTR keystreams from `openssl enc` keyed by the seed (fast
and reproducible); small files come from Python's seeded Mersenne Twister.
A marker file DEST.complete (beside DEST) records the parameters; a second run with the same
parameters does nothing.
"""
import argparse
import hashlib
import json
import os
import random
import subprocess
import sys

MTIME = 1704067200  # 2024-01-01T00:00:00Z

TOP = ["home", "projects", "photos", "documents", "mail", "src", "music",
       "backup-config", "var-www", "archive", "scans", "notes"]
WORDS = ["alpha", "beta", "gamma", "delta", "data", "logs", "assets", "build",
         "docs", "img", "cache", "old", "2019", "2020", "2021", "2022", "2023",
         "2024", "misc", "tmp", "shared", "client", "server", "lib", "test",
         "drafts", "final", "raw", "export", "import", "inbox", "sent", "v1", "v2"]
EXTS = [".txt", ".md", ".json", ".jpg", ".png", ".rs", ".py", ".c", ".h", ".html",
        ".csv", ".log", ".xml", ".conf", ".eml", ".pdf"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dest")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--dirs", type=int, default=2_000)
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--large-total-mib", type=int, default=2048)
    ap.add_argument("--min-size", type=int, default=1024)
    ap.add_argument("--max-size", type=int, default=8192)
    ap.add_argument("--spread", choices=["pareto", "uniform"], default="pareto")
    a = ap.parse_args()

    params = {"seed": a.seed, "files": a.files, "dirs": a.dirs, "large": a.large,
              "large_total_mib": a.large_total_mib, "version": 1}
    if (a.min_size, a.max_size) != (1024, 8192):  # markers of default trees stay as they were
        params.update(min_size=a.min_size, max_size=a.max_size)
    if a.spread != "pareto":
        params.update(spread=a.spread)
    marker = a.dest.rstrip("/") + ".complete"
    if os.path.exists(marker):
        with open(marker) as f:
            if json.load(f) == params:
                print(f"gen-dataset: {a.dest} already complete", file=sys.stderr)
                return 0
        sys.exit(f"gen-dataset: {a.dest} was generated with other parameters; remove it first")
    if os.path.exists(a.dest) and os.listdir(a.dest):
        sys.exit(f"gen-dataset: {a.dest} exists and is incomplete; remove it first")

    rng = random.Random(a.seed)

    # 1. Directory tree: 12 top-level dirs, then each new dir picks a random parent
    #    (not deeper than 5), which gives a realistic mix of bushy and deep branches.
    dirs = [(t, 1) for t in TOP[: min(len(TOP), a.dirs)]]
    names_used = set(d for d, _ in dirs)
    while len(dirs) < a.dirs:
        parent, depth = rng.choice(dirs)
        if depth >= 6:
            continue
        base = rng.choice(WORDS)
        if rng.random() < 0.5:
            base += f"-{rng.randrange(1000):03d}"
        if rng.random() < 0.01:
            base += " copy"
        d = f"{parent}/{base}"
        if d in names_used:
            continue
        names_used.add(d)
        dirs.append((d, depth + 1))
    for d, _ in dirs:
        os.makedirs(os.path.join(a.dest, d), exist_ok=True)

    # 2. Small files, skewed over the directories.
    weights = [rng.paretovariate(1.2) for _ in dirs]
    cum = []
    s = 0.0
    for w in weights:
        s += w
        cum.append(s)
    if a.spread == "uniform":
        placed = [i % len(dirs) for i in range(a.files)]
    else:
        placed = rng.choices(range(len(dirs)), cum_weights=cum, k=a.files)
    total = 0
    for i, di in enumerate(placed):
        r = rng.random()
        stem = f"{rng.choice(WORDS)}-{i:06d}"
        if r < 0.01:
            stem += " (1)"
        elif r < 0.012:
            stem += " [draft]"
        name = stem + rng.choice(EXTS)
        size = rng.randint(a.min_size, a.max_size)
        path = os.path.join(a.dest, dirs[di][0], name)
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))
        os.utime(path, (MTIME, MTIME))
        total += size
        if (i + 1) % 20000 == 0:
            print(f"gen-dataset: {i + 1} small files", file=sys.stderr)

    # 3. Large files: seeded AES-CTR keystream.
    media = os.path.join(a.dest, "media", "video")
    os.makedirs(media, exist_ok=True)
    each = a.large_total_mib // max(a.large, 1)
    for k in range(a.large):
        key = hashlib.sha256(f"{a.seed}-large-{k}".encode()).hexdigest()
        iv = key[:32]
        path = os.path.join(media, f"recording-{k:02d}.mkv")
        with open(path, "wb") as out:
            zero = subprocess.Popen(["head", "-c", str(each * 1024 * 1024), "/dev/zero"],
                                    stdout=subprocess.PIPE)
            subprocess.run(["openssl", "enc", "-aes-256-ctr", "-nosalt", "-K", key,
                            "-iv", iv], stdin=zero.stdout, stdout=out, check=True)
            zero.stdout.close()
            zero.wait()
        os.utime(path, (MTIME, MTIME))
        print(f"gen-dataset: large file {k + 1}/{a.large} ({each} MiB)", file=sys.stderr)

    for d, _ in sorted(dirs, key=lambda x: -x[1]):
        os.utime(os.path.join(a.dest, d), (MTIME, MTIME))
    for d in (media, os.path.dirname(media)):
        os.utime(d, (MTIME, MTIME))
    with open(marker, "w") as f:
        json.dump(params, f)
    print(f"gen-dataset: {a.files} small files ({total / 2**20:.0f} MiB) in {len(dirs)} dirs, "
          f"{a.large} large files ({a.large_total_mib} MiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
