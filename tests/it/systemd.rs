//! The shipped systemd units pass `systemd-analyze verify` with no warning at all.
//! Only the binary's path is rewritten (to the binary under test), so that the
//! `ExecStart=` check finds an executable; every other line is verified as shipped.

use std::process::Command as StdCommand;

use crate::util::{self, TestEnv};

#[test]
fn systemd_units_pass_systemd_analyze_verify_without_warnings() {
    let env = TestEnv::new();
    let dir = util::manifest_dir().join("systemd");
    let bin = assert_cmd::cargo::cargo_bin("restic-verify");
    let mut units = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("systemd/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if !(name.ends_with(".service") || name.ends_with(".timer")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read unit");
        assert!(
            text.contains("/usr/local/bin/restic-verify") || name.ends_with(".timer"),
            "{name}"
        );
        // A template is verified as an instance: `x@.service` as `x@weekly-check.service`.
        let instance = name.replace("@.", "@weekly-check.");
        let out = env.path(&instance);
        std::fs::write(
            &out,
            text.replace("/usr/local/bin/restic-verify", &bin.to_string_lossy()),
        )
        .expect("write");
        units.push(out);
    }
    assert!(
        units.len() >= 4,
        "expected the check and restore-test units and timers: {units:?}"
    );
    let out = StdCommand::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect(
            "systemd-analyze not found: install Debian's `systemd` package (scripts/setup.sh does)",
        );
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
