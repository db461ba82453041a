#!/usr/bin/env bash
# Builds the Debian package of restic-verify with cargo-deb:
#   scripts/package.sh [--profile PROFILE] [--no-build] [--fast]
# 1. builds the binary (`cargo build --locked --profile PROFILE`, default release;
#    --no-build packages the binary already built),
# 2. generates with that binary, into <target>/<profile>/deb-assets/: the man pages
#    (restic-verify(1), one per subcommand and restic-verify.toml(5), gzipped), the
#    bash, zsh and fish completions, and the systemd units with ExecStart= pointing
#    at /usr/bin (the units in systemd/ say /usr/local/bin, where a manual install
#    puts the binary),
# 3. runs `cargo deb --no-build` (Cargo.toml [package.metadata.deb] lists the assets;
#    --fast: quicker compression, larger file) and prints the path of the .deb on
#    the last line.
# Needs cargo-deb (scripts/setup.sh installs it). `--profile dev` packages a debug
# build, which cargo-deb accepts with a warning; the tests use it to skip a release
# build.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
build=1
fast=()
while [ $# -gt 0 ]; do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --fast) fast=(--fast); shift ;;
    *) echo "usage: $0 [--profile PROFILE] [--no-build] [--fast]" >&2; exit 2 ;;
  esac
done
cargo deb --version >/dev/null 2>&1 || { echo "package: cargo-deb not found; run scripts/setup.sh (cargo install cargo-deb --locked)" >&2; exit 3; }

target_dir=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')}
case $profile in
  dev | debug) dir=debug ;;
  *) dir=$profile ;;
esac
out="$target_dir/$dir"
if [ "$build" = 1 ]; then
  cargo build --locked --profile "$profile" --bin restic-verify
fi
bin="$out/restic-verify"
[ -x "$bin" ] || { echo "package: $bin not built (drop --no-build, or build with --profile $profile)" >&2; exit 3; }

assets="$out/deb-assets"
rm -rf "$assets"
mkdir -p "$assets/man/man1" "$assets/man/man5" "$assets/completions" "$assets/systemd"
"$bin" man >"$assets/man/man1/restic-verify.1"
"$bin" man restic-verify.toml >"$assets/man/man5/restic-verify.toml.5"
subcommands=$("$bin" --help | awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' | grep -vx help)
[ -n "$subcommands" ] || { echo "package: no subcommands found in --help" >&2; exit 3; }
for sub in $subcommands; do
  "$bin" man "$sub" >"$assets/man/man1/restic-verify-$sub.1"
done
gzip -9n "$assets"/man/man1/*.1 "$assets"/man/man5/*.5
"$bin" completions bash >"$assets/completions/restic-verify"
"$bin" completions zsh >"$assets/completions/_restic-verify"
"$bin" completions fish >"$assets/completions/restic-verify.fish"
for unit in systemd/*.service systemd/*.timer; do
  sed 's#/usr/local/bin/restic-verify#/usr/bin/restic-verify#g' "$unit" >"$assets/systemd/$(basename "$unit")"
done
if grep -rq /usr/local/bin "$assets/systemd"; then
  echo "package: a unit still points at /usr/local/bin" >&2
  exit 3
fi

profile_args=()
[ "$profile" = release ] || profile_args=(--profile "$profile")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# cargo deb prints the package's path on stdout, warnings on stderr.
if ! deb=$(CARGO_TARGET_DIR=$target_dir cargo deb --no-build "${profile_args[@]}" "${fast[@]}" --output "$target_dir/debian/" 2>"$log"); then
  cat "$log" >&2
  echo "package: cargo deb failed" >&2
  exit 3
fi
# The dev-profile warning is expected with --profile dev (see the header).
grep -v "dev profile is not supported\|cargo-deb is for making releases\|To enable debug symbols\|Cargo also supports custom profiles" "$log" >&2 || true
deb=$(printf '%s\n' "$deb" | tail -1)
[ -f "$deb" ] || { echo "package: cargo deb wrote no package ($deb)" >&2; exit 3; }
echo "$deb"
