//! The single integration-test binary: it runs the real `restic-verify` against the
//! real restic (RESTIC_VERIFY_TEST_RESTIC selects which) on copies of the fixtures.

// Test helpers panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alerts;
mod architecture;
mod audit;
mod audit_cli;
mod backends;
mod backends_s3;
mod backends_sftp;
mod check;
mod check_new;
mod cli;
mod completions;
mod coverage;
mod daemon;
mod damage;
mod drill;
mod escaping;
mod files;
mod fire_drill;
mod fixtures;
mod fleet;
mod init;
mod json;
mod man;
mod nixos;
mod notify;
mod package;
mod packread;
mod progress;
mod report;
mod report_html;
mod restore_test;
mod rto;
mod secrets;
mod servers;
mod shard;
mod status;
mod systemd;
mod util;
mod validate;
