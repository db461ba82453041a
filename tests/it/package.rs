//! The Debian package: scripts/package.sh builds it with cargo-deb from the debug
//! binary under test (`--profile dev --no-build --fast`: no release build in the
//! suite), its contents are checked, and then it is installed:
//!
//! - under CI=true (CI runs as root on a machine of its own): a real `dpkg -i`,
//!   then the installed `restic-verify --version`, `man`, the bash completion and
//!   `systemd-analyze verify` on the installed units by name, and `dpkg --purge`;
//! - elsewhere (a developer's machine, which it must not change): `dpkg-deb -x`
//!   into a temp dir and `dpkg --dry-run -i`, the extracted binary's `--version`,
//!   and `systemd-analyze verify` on the extracted units pointed at it.
//!
//! Without cargo-deb the test fails under CI=true and is skipped elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use crate::util::{self, TestEnv};

const UNITS: [&str; 8] = [
    "restic-verify-check@.service",
    "restic-verify-new@.service",
    "restic-verify-check@.timer",
    "restic-verify-audit@.service",
    "restic-verify-audit@.timer",
    "restic-verify-restore-test@.service",
    "restic-verify-restore-test@.timer",
    "restic-verify.service",
];

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether `cargo deb` runs (cargo finds cargo-deb in PATH or $CARGO_HOME/bin).
fn cargo_deb() -> bool {
    StdCommand::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut StdCommand) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package from the binary under test; returns its path.
fn build_package() -> PathBuf {
    let bin = assert_cmd::cargo::cargo_bin("restic-verify");
    // <target>/debug/restic-verify
    let target = bin
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_owned();
    let started = std::time::Instant::now();
    let stdout = run(
        StdCommand::new(util::manifest_dir().join("scripts/package.sh"))
            .args(["--profile", "dev", "--no-build", "--fast"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(util::manifest_dir()),
    );
    eprintln!("package built in {:.1}s", started.elapsed().as_secs_f64());
    let deb = PathBuf::from(stdout.lines().last().expect("path of the .deb").trim());
    assert!(deb.is_file(), "{}", deb.display());
    deb
}

/// `systemd-analyze verify` must say nothing at all.
fn assert_units_verify(args: &[String], dir: &Path) {
    let out = StdCommand::new("systemd-analyze")
        .arg("verify")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("systemd-analyze not found: install Debian's `systemd` (scripts/setup.sh does)");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && all.trim().is_empty(),
        "systemd-analyze verify objected:\n{all}"
    );
}

/// A template is verified as an instance: `x@.service` as `x@weekly-check.service`.
fn instance(unit: &str) -> String {
    unit.replace("@.", "@weekly-check.")
}

/// Removes the package again when the test ends, however it ends.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = StdCommand::new("dpkg")
            .args(["--purge", "restic-verify"])
            .output();
    }
}

#[test]
fn package_holds_binary_man_pages_completions_units_and_installs() {
    if !cargo_deb() {
        assert!(
            !ci(),
            "cargo-deb not found: scripts/setup.sh installs it (cargo install cargo-deb --locked)"
        );
        eprintln!("SKIPPED: cargo-deb not found; run scripts/setup.sh to build and test the Debian package");
        return;
    }
    let env = TestEnv::new();
    let deb = build_package();

    let listing = run(StdCommand::new("dpkg-deb").arg("-c").arg(&deb));
    let mut want: Vec<String> = vec![
        "./usr/bin/restic-verify".into(),
        "./usr/share/man/man1/restic-verify.1.gz".into(),
        "./usr/share/man/man1/restic-verify-status.1.gz".into(),
        "./usr/share/man/man1/restic-verify-check.1.gz".into(),
        "./usr/share/man/man5/restic-verify.toml.5.gz".into(),
        "./usr/share/bash-completion/completions/restic-verify".into(),
        "./usr/share/zsh/vendor-completions/_restic-verify".into(),
        "./usr/share/fish/vendor_completions.d/restic-verify.fish".into(),
        "./usr/lib/sysusers.d/restic-verify.conf".into(),
        "./usr/share/doc/restic-verify/examples/minimal.toml".into(),
        "./usr/share/doc/restic-verify/examples/homelab.toml".into(),
        "./usr/share/doc/restic-verify/README.md".into(),
        "./usr/share/doc/restic-verify/copyright".into(),
    ];
    want.extend(UNITS.iter().map(|u| format!("./lib/systemd/system/{u}")));
    for path in &want {
        assert!(
            listing.lines().any(|l| l.ends_with(&format!(" {path}"))),
            "{path} not in the package:\n{listing}"
        );
    }
    let fields = run(StdCommand::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .args(["Package", "Version", "Depends"]));
    assert!(fields.contains("Package: restic-verify"), "{fields}");
    assert!(
        fields.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{fields}"
    );

    // What the package's units say, extracted: ExecStart= points at /usr/bin.
    let root = env.path("root");
    run(StdCommand::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    for unit in UNITS.iter().filter(|u| u.ends_with(".service")) {
        let text =
            std::fs::read_to_string(root.join("lib/systemd/system").join(unit)).expect("unit");
        assert!(
            text.contains("ExecStart=/usr/bin/restic-verify "),
            "{unit}:\n{text}"
        );
        assert!(!text.contains("/usr/local/bin"), "{unit}");
    }
    let version = format!("restic-verify {}", env!("CARGO_PKG_VERSION"));

    if ci() {
        // A real install, as root, removed again at the end.
        let _purge = Purge;
        run(StdCommand::new("dpkg").arg("-i").arg(&deb));
        let out = run(StdCommand::new("/usr/bin/restic-verify").arg("--version"));
        assert_eq!(out.trim(), version);
        assert_eq!(
            run(StdCommand::new("dpkg-query").args(["-W", "-f", "${Status}", "restic-verify"])),
            "install ok installed"
        );
        let page = run(StdCommand::new("man")
            .arg("restic-verify-status")
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"));
        assert!(page.contains("--results"), "{page}");
        let page = run(StdCommand::new("man")
            .args(["5", "restic-verify.toml"])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"));
        assert!(page.contains("read-data-subset"), "{page}");
        run(StdCommand::new("bash").arg("-c").arg(
            "source /usr/share/bash-completion/completions/restic-verify && complete -p restic-verify",
        ));
        run(StdCommand::new("getent").args(["passwd", "restic-verify"]));
        // By name: systemd loads them from /lib/systemd/system, as it would at boot.
        let names: Vec<String> = UNITS.iter().map(|u| instance(u)).collect();
        assert_units_verify(&names, env.dir.path());
    } else {
        // Not on a developer's machine: extract, and ask dpkg what it would do.
        if nix::unistd::Uid::effective().is_root() {
            run(StdCommand::new("dpkg").args(["--dry-run", "-i"]).arg(&deb));
        }
        let bin = root.join("usr/bin/restic-verify");
        let out = run(StdCommand::new(&bin).arg("--version"));
        assert_eq!(out.trim(), version);
        let mut paths = Vec::new();
        for unit in UNITS {
            let text =
                std::fs::read_to_string(root.join("lib/systemd/system").join(unit)).expect("unit");
            let path = env.path(&instance(unit));
            std::fs::write(
                &path,
                text.replace("/usr/bin/restic-verify", &bin.to_string_lossy()),
            )
            .expect("write");
            paths.push(path.to_string_lossy().into_owned());
        }
        assert_units_verify(&paths, env.dir.path());
    }
}
