//! The fixture script rebuilds every damaged repository with the restic under test,
//! and each one gives the same verdict as the committed copy: the damage is real for
//! this restic version, not an artefact of the committed build.

use std::process::Command as StdCommand;

use crate::util::{self, TestEnv};

#[test]
fn fixtures_rebuilt_with_restic_under_test_give_the_documented_verdicts() {
    let env = TestEnv::new();
    let out_dir = env.path("rebuilt");
    let st = StdCommand::new("bash")
        .arg(util::manifest_dir().join("fixtures/make-repos.sh"))
        .arg(&out_dir)
        .arg(util::restic_bin())
        .output()
        .expect("make-repos.sh");
    assert!(
        st.status.success(),
        "make-repos.sh failed:\n{}{}",
        String::from_utf8_lossy(&st.stdout),
        String::from_utf8_lossy(&st.stderr)
    );
    let pw = out_dir.join("password");
    // (repository, extra flags, expected exit code)
    let cases: [(&str, &[&str], i32); 6] = [
        ("clean", &["--read-data"], 0),
        ("flipped-byte", &[], 0),
        ("flipped-byte", &["--read-data"], 1),
        ("missing-pack", &[], 1),
        ("truncated-index", &[], 1),
        ("damaged-snapshot", &[], 1),
    ];
    for (name, flags, want) in cases {
        let out = env
            .cmd()
            .arg("check")
            .arg("--repo")
            .arg(out_dir.join("repos").join(name))
            .arg("--password-file")
            .arg(&pw)
            .args(flags)
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(want),
            "{name} {flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
